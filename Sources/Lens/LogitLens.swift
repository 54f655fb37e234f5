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
        let k = min(k, row.count)
        guard k > 0, let base = row.baseAddress else { return [] }
        var ids = [Int32](repeating: 0, count: k), values = [Float](repeating: 0, count: k)
        TokenDistribution.topK(base, count: row.count, k: k, ids: &ids, values: &values)
        return zip(ids, values).map { ScoredToken(id: Int($0), score: $1) }
    }
}
