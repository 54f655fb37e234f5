import CKernels
import Foundation

/// Next-token cross-entropy over chosen positions.
public enum CrossEntropy {
    /// Loss = Σ over rows with a label of −log softmax(logits_row)[label] (summed, in
    /// nats), and its gradient with respect to the logits scaled by `gradientScale`
    /// (1 for the sum; 1/count for the mean): softmax − one-hot on labelled rows, 0
    /// elsewhere. `logits` is [rows, V]; `labels[r]` is nil for rows that do not count.
    public static func lossAndGradient(logits: Tensor, labels: [Int?], gradientScale: Float = 1) -> (loss: Double, gradient: Tensor) {
        let V = logits.shape.last!
        let rows = logits.count / V
        precondition(labels.count == rows, "\(labels.count) labels for \(rows) rows")
        let grad = Tensor(zeros: [rows, V])
        var perRow = [Double](repeating: 0, count: rows)
        perRow.withUnsafeMutableBufferPointer { lossOut in
            Parallel.forEachChunk(rows, costPerItem: V * 4) { range in
                for r in range {
                    guard let label = labels[r] else { continue }
                    let x = logits.data + r * V, g = grad.mutableData + r * V
                    var maxV = -Float.infinity
                    for j in 0..<V { maxV = max(maxV, x[j]) }
                    g.update(from: x, count: V)
                    let sum = Double(wb_exp_shifted_sum(g, V, maxV))   // g ← exp(x − max)
                    let logZ = Double(maxV) + log(sum)
                    lossOut[r] = logZ - Double(x[label])
                    let inv = Float(1 / sum) * gradientScale
                    for j in 0..<V { g[j] *= inv }
                    g[label] -= gradientScale
                }
            }
        }
        return (perRow.reduce(0, +), grad)
    }

    /// Labels for next-token prediction: row (b, t) predicts token (b, t+1) when
    /// both are real and `counts(b, t)` allows it (default: every position).
    public static func nextTokenLabels(_ batch: TokenBatch, counts: ((Int, Int) -> Bool)? = nil) -> [Int?] {
        let (B, T) = (batch.batchSize, batch.length)
        var labels = [Int?](repeating: nil, count: B * T)
        for b in 0..<B {
            for t in 0..<(T - 1) where batch.isReal[b * T + t] && batch.isReal[b * T + t + 1] {
                if let counts, !counts(b, t) { continue }
                labels[b * T + t] = batch.tokens[b * T + t + 1]
            }
        }
        return labels
    }
}
