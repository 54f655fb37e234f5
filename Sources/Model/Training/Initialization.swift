import Foundation

extension SeededGenerator {
    /// A standard normal draw (Box–Muller).
    public mutating func nextGaussian() -> Float {
        var u1 = Double(next() >> 11) / Double(1 << 53)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

extension ModelWeights {
    /// Fresh weights for training from scratch: linear layers and the embedding drawn
    /// from N(0, std²), output projections (o, down) scaled by 1/√(2L) as GPT-2 does,
    /// norms at 1, biases at 0. Deterministic for `seed`.
    public static func random(config c: ModelConfig, seed: UInt64, std: Float = 0.02) -> ModelWeights {
        var rng = SeededGenerator(seed: seed)
        let residualScale = 1 / Float(2 * c.layerCount).squareRoot()
        return build(config: c, tied: c.tieWordEmbeddings) { spec in
            let t = Tensor(zeros: spec.shape)
            let scale: Float
            switch spec.role {
            case .norm: t.mutableData.update(repeating: 1, count: t.count); return t
            case .bias: return t
            case .linear(.o), .linear(.down): scale = residualScale
            case .embedding, .unembedding, .linear: scale = 1
            }
            for i in 0..<t.count { t.mutableData[i] = rng.nextGaussian() * std * scale }
            return t
        }
    }
}
