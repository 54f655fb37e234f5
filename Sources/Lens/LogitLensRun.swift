import CKernels
import Foundation
import Model

/// The logit lens over a prompt: at every residual index r (0 = embedding output,
/// r = l + 1 = output of block l) and position, the final norm is applied to h_r and
/// the result projected by W_U. The last index reproduces the model's own logits.
public struct LogitLensResult: Sendable {
    public var tokens: [Int]
    /// [L+1][T][k]
    public var topIDs: [[[Int]]]
    public var topProbabilities: [[[Float]]]
    /// [L+1][T], nats
    public var entropy: [[Float]]
    /// KL(final ‖ layer) in nats, [L+1][T]
    public var klToFinal: [[Float]]
    /// With a target token: its probability, log-probability and rank (0 = top), [L+1][T].
    public var targetProbability: [[Float]]?
    public var targetLogProbability: [[Float]]?
    public var targetRank: [[Int]]?

    public var layerCount: Int { topIDs.count }
}

public enum LogitLensRun {
    /// Rows of the vocabulary projection computed at once ([chunk, V] floats at a time).
    static let chunkRows = 64

    public static func run(model: TransformerModel, tokens: [Int], k: Int, target: Int? = nil,
                           hooks: ForwardHooks = ForwardHooks()) throws -> LogitLensResult {
        let c = model.config
        let (V, T) = (c.vocabSize, tokens.count)
        let out = try model.forward(TokenBatch(tokens), hooks: hooks, logits: .none, captureResiduals: true)
        let sites = out.residuals.count
        // Final-layer log-probabilities first: every KL needs them.
        let finalLogProbs = logProbabilities(model: model, residual: out.residuals[sites - 1].data, rows: T)
        var result = LogitLensResult(tokens: tokens, topIDs: [], topProbabilities: [], entropy: [], klToFinal: [],
                                     targetProbability: target == nil ? nil : [], targetLogProbability: target == nil ? nil : [],
                                     targetRank: target == nil ? nil : [])
        for s in 0..<sites {
            let logProbs = s == sites - 1 ? finalLogProbs : logProbabilities(model: model, residual: out.residuals[s].data, rows: T)
            var ids = [[Int]](repeating: [], count: T), probs = [[Float]](repeating: [], count: T)
            var entropy = [Float](repeating: 0, count: T), kl = [Float](repeating: 0, count: T)
            var tp = [Float](repeating: 0, count: T), tlp = [Float](repeating: 0, count: T), rank = [Int](repeating: 0, count: T)
            for t in 0..<T {
                let row = UnsafeBufferPointer(start: logProbs.data + t * V, count: V)
                let fin = finalLogProbs.data + t * V
                let top = LogitLens.topK(row, k: k)
                ids[t] = top.map(\.id)
                probs[t] = top.map { exp($0.score) }
                var h: Double = 0, divergence: Double = 0
                for j in 0..<V {
                    let lp = Double(row[j]), p = exp(lp)
                    if p > 0 { h -= p * lp }
                    let lf = Double(fin[j]), pf = exp(lf)
                    if pf > 0 { divergence += pf * (lf - lp) }
                }
                entropy[t] = Float(h)
                kl[t] = Float(max(0, divergence))
                if let target {
                    tlp[t] = row[target]
                    tp[t] = exp(row[target])
                    rank[t] = row.reduce(0) { $0 + ($1 > row[target] ? 1 : 0) }
                }
            }
            result.topIDs.append(ids)
            result.topProbabilities.append(probs)
            result.entropy.append(entropy)
            result.klToFinal.append(kl)
            if target != nil {
                result.targetProbability!.append(tp)
                result.targetLogProbability!.append(tlp)
                result.targetRank!.append(rank)
            }
        }
        return result
    }

    /// log softmax(RMSNorm_final(h) W_Uᵀ) for `rows` residual rows, computed in chunks.
    static func logProbabilities(model: TransformerModel, residual: UnsafePointer<Float>, rows: Int) -> Tensor {
        let d = model.config.hiddenSize, V = model.config.vocabSize
        let out = Tensor(zeros: [rows, V])
        for start in stride(from: 0, to: rows, by: chunkRows) {
            let n = min(chunkRows, rows - start)
            let logits = model.unembed(residual + start * d, rows: n, shape: [n, V])
            Parallel.forEachChunk(n, costPerItem: V * 4) { range in
                for r in range {
                    let src = logits.data + r * V, dst = out.mutableData + (start + r) * V
                    var maxV = -Float.infinity
                    for j in 0..<V { maxV = max(maxV, src[j]) }
                    dst.update(from: src, count: V)
                    let sum = wb_exp_shifted_sum(dst, V, maxV)
                    let logZ = maxV + log(sum)
                    for j in 0..<V { dst[j] = src[j] - logZ }
                }
            }
        }
        return out
    }
}
