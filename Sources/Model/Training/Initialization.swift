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
        func normal(_ shape: [Int], scale: Float = 1) -> Tensor {
            let t = Tensor(zeros: shape)
            for i in 0..<t.count { t.mutableData[i] = rng.nextGaussian() * std * scale }
            return t
        }
        func ones(_ n: Int) -> Tensor { Tensor(shape: [n], values: [Float](repeating: 1, count: n)) }
        let d = c.hiddenSize
        let residualScale = 1 / Float(2 * c.layerCount).squareRoot()
        func linear(_ out: Int, _ inF: Int, bias: Bool, scale: Float = 1) -> LinearWeights {
            LinearWeights(weight: normal([out, inF], scale: scale), bias: bias ? Tensor(zeros: [out]) : nil)
        }
        let embedding = normal([c.vocabSize, d])
        let blocks = (0..<c.layerCount).map { _ in
            BlockWeights(inputNorm: ones(d), postAttentionNorm: ones(d),
                         q: linear(c.queryWidth, d, bias: c.qkvBias), k: linear(c.kvWidth, d, bias: c.qkvBias),
                         v: linear(c.kvWidth, d, bias: c.qkvBias), o: linear(d, c.queryWidth, bias: c.outputBias, scale: residualScale),
                         gate: linear(c.intermediateSize, d, bias: c.mlpBias), up: linear(c.intermediateSize, d, bias: c.mlpBias),
                         down: linear(d, c.intermediateSize, bias: c.mlpBias, scale: residualScale))
        }
        return ModelWeights(embedding: embedding, blocks: blocks, finalNorm: ones(d),
                            unembedding: c.tieWordEmbeddings ? embedding : normal([c.vocabSize, d]))
    }

    /// Copies every tensor into memory the workbench owns (weights loaded from an f32
    /// file point into its read-only mapping), keeping a tied unembedding tied.
    public func ownedCopy() -> ModelWeights {
        func copy(_ t: Tensor) -> Tensor { t.copy() }
        func copyLinear(_ l: LinearWeights) -> LinearWeights { LinearWeights(weight: copy(l.weight), bias: l.bias.map(copy)) }
        let e = copy(embedding)
        let tied = unembedding.storage === embedding.storage
        return ModelWeights(embedding: e, blocks: blocks.map { b in
            BlockWeights(inputNorm: copy(b.inputNorm), postAttentionNorm: copy(b.postAttentionNorm), q: copyLinear(b.q),
                         k: copyLinear(b.k), v: copyLinear(b.v), o: copyLinear(b.o), gate: copyLinear(b.gate),
                         up: copyLinear(b.up), down: copyLinear(b.down))
        }, finalNorm: copy(finalNorm), unembedding: tied ? e : copy(unembedding))
    }
}
