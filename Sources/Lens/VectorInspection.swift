import Foundation
import Model

/// How a vector is read through the unembedding.
public enum LensProjection: String, CaseIterable, Sendable {
    /// W_U v: the steering paper's reading (no final norm).
    case raw
    /// W_U (γ ⊙ v): through the final norm's weight (the norm's scale changes no ranking).
    case normed
    /// cos(v, W_U[i]) for every token i.
    case cosine
}

/// The logit-lens reading of one vector.
public struct VectorReading: Sendable {
    public var projection: LensProjection
    /// Highest and lowest scores, best first / most negative first.
    public var promoted: [ScoredToken]
    public var suppressed: [ScoredToken]
}

/// Readings of [d] or [L, d] vectors plus, for several, how they relate.
public struct VectorInspection: Sendable {
    public var readings: [[VectorReading]]   // [row][projection]
    public var norms: [Float]
    /// cos(v_i, v_j), [rows × rows] (only meaningful with several rows).
    public var cosines: [[Float]]
    /// ‖V‖_F² / ‖V‖_2² of the stacked vectors (1 = all parallel).
    public var stableRank: Float

    public static func inspect(_ rows: [[Float]], model: TransformerModel, k: Int,
                               projections: [LensProjection] = LensProjection.allCases) -> VectorInspection {
        let d = model.config.hiddenSize, V = model.config.vocabSize
        let n = rows.count
        let W = model.weights.unembedding
        // Unembedding row norms for the cosine projection.
        var rowNorms = [Float](repeating: 0, count: V)
        rowNorms.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(V, costPerItem: d) { range in
                for i in range {
                    var s: Float = 0
                    let r = W.data + i * d
                    for j in 0..<d { s += r[j] * r[j] }
                    out[i] = s.squareRoot()
                }
            }
        }
        let gamma = model.weights.finalNorm.values
        var readings: [[VectorReading]] = []
        // One GEMM per projection for all rows: scores [n, V] = X · W_Uᵀ.
        for p in projections {
            var x = [Float](repeating: 0, count: n * d)
            for (i, row) in rows.enumerated() {
                for j in 0..<d { x[i * d + j] = p == .normed ? row[j] * gamma[j] : row[j] }
            }
            var scores = [Float](repeating: 0, count: n * V)
            x.withUnsafeBufferPointer { xp in
                scores.withUnsafeMutableBufferPointer { sp in
                    linearForward(xp.baseAddress!, rows: n, weight: W.data, inFeatures: d, outFeatures: V, bias: nil, into: sp.baseAddress!)
                }
            }
            for i in 0..<n {
                if p == .cosine {
                    let vNorm = max(rows[i].map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-30)
                    for t in 0..<V { scores[i * V + t] /= max(vNorm * rowNorms[t], 1e-30) }
                }
                let reading = scores.withUnsafeBufferPointer { sp -> VectorReading in
                    let row = UnsafeBufferPointer(rebasing: sp[(i * V)..<((i + 1) * V)])
                    let negated = row.map { -$0 }
                    let bottom = negated.withUnsafeBufferPointer { LogitLens.topK($0, k: k) }.map { ScoredToken(id: $0.id, score: -$0.score) }
                    return VectorReading(projection: p, promoted: LogitLens.topK(row, k: k), suppressed: bottom)
                }
                if readings.count <= i { readings.append([]) }
                readings[i].append(reading)
            }
        }
        let norms = rows.map { $0.map { $0 * $0 }.reduce(0, +).squareRoot() }
        let cosines = rows.indices.map { i in
            rows.indices.map { j -> Float in
                let dot = zip(rows[i], rows[j]).map { $0 * $1 }.reduce(0, +)
                return dot / max(norms[i] * norms[j], 1e-30)
            }
        }
        return VectorInspection(readings: readings, norms: norms, cosines: cosines, stableRank: stableRank(rows))
    }

    /// ‖V‖_F² / σ_max² with σ_max² the top eigenvalue of V Vᵀ (power iteration on the small Gram matrix).
    static func stableRank(_ rows: [[Float]]) -> Float {
        let n = rows.count
        guard n > 0 else { return 0 }
        var gram = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { gram[i * n + j] = zip(rows[i], rows[j]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } } }
        let frobenius = (0..<n).reduce(0.0) { $0 + gram[$1 * n + $1] }
        guard frobenius > 0 else { return 0 }
        var v = [Double](repeating: 1 / Double(n).squareRoot(), count: n)
        var lambda = 0.0
        for _ in 0..<500 {
            var w = [Double](repeating: 0, count: n)
            for i in 0..<n { for j in 0..<n { w[i] += gram[i * n + j] * v[j] } }
            let norm = w.map { $0 * $0 }.reduce(0, +).squareRoot()
            guard norm > 0 else { break }
            let next = w.map { $0 / norm }
            let converged = abs(norm - lambda) <= 1e-12 * norm
            lambda = norm
            v = next
            if converged { break }
        }
        return Float(frobenius / lambda)
    }
}
