import Foundation

/// Next-token cross-entropy over chosen positions.
public enum CrossEntropy {
    /// Loss = Σ over rows with a label of −log softmax(logits_row)[label] (summed, in
    /// nats), and its gradient with respect to the logits scaled by `gradientScale`
    /// (1 for the sum; 1/count for the mean): softmax − one-hot on labelled rows, 0
    /// elsewhere. `logits` is [rows, V]; `labels[r]` is nil for rows that do not count.
    public static func lossAndGradient(logits: Tensor, labels: [Int?], gradientScale: Float = 1) -> (loss: Double, gradient: Tensor) {
        let (logProbabilities, gradient) = TokenDistribution.chosenLogProbabilities(
            logits: logits, labels: labels, coefficient: { _, _ in Double(gradientScale) })
        return (logProbabilities.reduce(0) { $0 - ($1 ?? 0) }, gradient)
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
