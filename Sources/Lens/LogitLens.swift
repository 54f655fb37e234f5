import Model

/// A token with its score under a lens projection.
public struct ScoredToken: Equatable, Sendable {
    public var id: Int
    public var score: Float
}

/// The logit lens: read a residual-stream vector as if it were the last layer's,
/// through the final norm and the unembedding W_U (methods.md, notation).
public enum LogitLens {
    /// Logits for each residual row: RMSNorm_final(h) · W_Uᵀ. `residual` is [rows, d].
    public static func logits(model: TransformerModel, residual: Tensor) -> Tensor {
        let d = model.config.hiddenSize
        precondition(residual.count % d == 0, "residual of \(residual.count) values is not a multiple of d = \(d)")
        let rows = residual.count / d
        return model.unembed(residual.data, rows: rows, shape: [rows, model.config.vocabSize])
    }

    /// The k highest-scoring entries of one row (ties: lower id first).
    public static func topK(_ row: UnsafeBufferPointer<Float>, k: Int) -> [ScoredToken] {
        var best: [ScoredToken] = []
        for (i, v) in row.enumerated() {
            if best.count == k, let last = best.last, v <= last.score { continue }
            let pos = best.firstIndex { $0.score < v } ?? best.count
            best.insert(ScoredToken(id: i, score: v), at: pos)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
