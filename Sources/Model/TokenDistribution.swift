import CKernels
import Foundation

/// Everything the workbench computes from a row of logits over the vocabulary, in one
/// place: softmax statistics (log Z, entropy, KL), log-probabilities of chosen tokens and
/// their gradient, the k3 KL estimator, top-k, and drawing a token. Generation, training
/// objectives, the lens and influence's true Fisher all call these.
public enum TokenDistribution {
    // MARK: statistics of one row

    /// Softmax statistics of a row x without forming the probabilities; with m = max x and
    /// e_i = exp(x_i − m): `sumExp` = Σ e_i, `weightedShift` = Σ e_i (x_i − m) and, against
    /// a target distribution p, `targetShift` = Σ p_i (x_i − m). Accumulated in double.
    public struct RowStatistics: Sendable {
        public var max: Double
        public var sumExp: Double
        public var weightedShift: Double
        public var targetShift: Double

        /// log Σ exp x.
        public var logNormalizer: Double { max + log(sumExp) }
        /// −Σ q log q of q = softmax x, nats.
        public var entropy: Double { log(sumExp) - weightedShift / sumExp }
        /// Σ q log q of q = softmax x.
        public var negativeEntropy: Double { weightedShift / sumExp - log(sumExp) }
        /// log softmax(x)_i for the logit x_i.
        public func logProbability(ofLogit x: Float) -> Double { Double(x) - logNormalizer }
        /// KL(p ‖ softmax x) = Σ p log p − Σ p log q, given the target's Σ p log p.
        public func kl(targetNegativeEntropy: Double) -> Double { targetNegativeEntropy - (targetShift - log(sumExp)) }
    }

    public static func statistics(_ x: UnsafePointer<Float>, count: Int, target p: UnsafePointer<Float>? = nil) -> RowStatistics {
        var st = (0.0, 0.0, 0.0, 0.0)
        withUnsafeMutableBytes(of: &st) { wb_softmax_row_stats(x, count, p, $0.baseAddress!.assumingMemoryBound(to: Double.self)) }
        return RowStatistics(max: st.0, sumExp: st.1, weightedShift: st.2, targetShift: st.3)
    }

    // MARK: whole matrices of rows

    /// Each row ← softmax(row).
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.forEachChunk(rows, costPerItem: width * 4) { range in
            for r in range {
                let row = x + r * width
                var m = -Float.infinity
                for i in 0..<width { m = Swift.max(m, row[i]) }
                let s = wb_exp_shifted_sum(row, width, m)
                for i in 0..<width { row[i] /= s }
            }
        }
    }

    /// Σ_i p_i log p_i of each row of probabilities.
    public static func negativeEntropies(_ p: UnsafePointer<Float>, rows: Int, width: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forEachChunk(rows, costPerItem: width * 4) { range in
                for r in range {
                    let pr = p + r * width
                    var plogp: Double = 0
                    for i in 0..<width where pr[i] > 0 { plogp += Double(pr[i]) * log(Double(pr[i])) }
                    o[r] = plogp
                }
            }
        }
        return out
    }

    /// Replaces logits z by ∂/∂z of mean_rows KL(p ‖ softmax z) = (softmax(z) − p) / rows and
    /// returns that mean, given each row's Σ p log p.
    public static func meanKLAndGradient(_ z: UnsafeMutablePointer<Float>, target p: UnsafePointer<Float>,
                                         negativeEntropy: [Double], rows: Int, width: Int) -> Double {
        var total: Double = 0
        let lock = NSLock()
        Parallel.forEachChunk(rows, costPerItem: width * 6) { range in
            var local: Double = 0
            for r in range {
                let row = z + r * width, pr = p + r * width
                let st = statistics(row, count: width, target: pr)
                local += st.kl(targetNegativeEntropy: negativeEntropy[r])
                let shift = Float(st.logNormalizer), scale = 1 / Float(rows)
                for i in 0..<width { row[i] = (exp(row[i] - shift) - pr[i]) * scale }
            }
            lock.lock(); total += local; lock.unlock()
        }
        return total / Double(rows)
    }

    /// For each row r with a label y_r: log softmax(x_r)[y_r], and the gradient row
    /// c_r (softmax(x_r) − onehot(y_r)) where c_r = `coefficient(r, log p)`; rows without a
    /// label get 0. This is the derivative of Σ_r c_r (−log p_r(y_r)) when the c_r are
    /// constants (supervised loss, policy gradient), and serves any per-token objective whose
    /// derivative in log p is −c_r (the k3 KL term). `logits` is [rows, V]. `coefficient` is
    /// called concurrently from several threads: it must not write shared state.
    public static func chosenLogProbabilities(logits: Tensor, labels: [Int?], coefficient: (Int, Double) -> Double)
        -> (logProbabilities: [Double?], gradient: Tensor) {
        let V = logits.shape.last!
        let rows = logits.count / V
        precondition(labels.count == rows, "\(labels.count) labels for \(rows) rows")
        let grad = Tensor(zeros: [rows, V])
        var perRow = [Double?](repeating: nil, count: rows)
        perRow.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(rows, costPerItem: V * 4) { range in
                for r in range {
                    guard let label = labels[r] else { continue }
                    let x = logits.data + r * V, g = grad.mutableData + r * V
                    var maxV = -Float.infinity
                    for j in 0..<V { maxV = Swift.max(maxV, x[j]) }
                    g.update(from: x, count: V)
                    let sum = Double(wb_exp_shifted_sum(g, V, maxV))   // g ← exp(x − max)
                    let logProbability = Double(x[label]) - (Double(maxV) + log(sum))
                    out[r] = logProbability
                    let c = Float(coefficient(r, logProbability))
                    let inv = Float(1 / sum) * c
                    for j in 0..<V { g[j] *= inv }
                    g[label] -= c
                }
            }
        }
        return (perRow, grad)
    }

    /// The k3 estimator of KL(π ‖ π_ref) for one token (Schulman): with δ = log π_ref − log π,
    /// k3 = e^δ − δ − 1 ≥ 0; its derivative in log π is 1 − e^δ.
    public static func k3(logProbability: Double, referenceLogProbability: Double) -> (value: Double, derivative: Double) {
        let delta = referenceLogProbability - logProbability
        return (exp(delta) - delta - 1, 1 - exp(delta))
    }

    // MARK: top-k

    /// The k largest entries of a row, largest first (ties: lower index first), written to
    /// `ids` and `values`; returns how many (min(k, count)).
    @discardableResult
    public static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int,
                            ids: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>) -> Int {
        Int(wb_top_k(x, count, Int32(k), ids, values))
    }

    // MARK: drawing a token

    /// Index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestV = -Float.infinity
        for (i, v) in row.enumerated() where v > bestV { best = i; bestV = v }
        return best
    }

    /// Draws one token from `logits` (one row of V values).
    public static func sample(_ logits: UnsafeBufferPointer<Float>, options o: SamplingOptions,
                              rng: inout SeededGenerator) -> Int {
        if o.temperature == 0 { return argmax(logits) }
        let V = logits.count
        // Softmax of logits / T: e_i = exp(x_i / T − max / T) by the vectorised exp, drawn
        // from unnormalised when nothing is truncated (the draw scales u by Σ e instead).
        let invT = 1 / o.temperature
        var maxV = -Float.infinity
        for v in logits { maxV = max(maxV, v) }
        var probs = [Float](unsafeUninitializedCapacity: V) { buffer, count in
            for i in 0..<V { buffer[i] = logits[i] * invT }
            count = V
        }
        let total = probs.withUnsafeMutableBufferPointer { wb_exp_shifted_sum($0.baseAddress!, V, maxV * invT) }

        let restrict = (o.topK > 0 && o.topK < V) || o.topP < 1
        if !restrict { return draw(from: probs, indices: nil, mass: total, rng: &rng) }
        let inverseTotal = 1 / total
        for i in 0..<V { probs[i] *= inverseTotal }

        // Candidates in descending probability; a partial pass usually suffices.
        let keepK = o.topK > 0 ? min(o.topK, V) : V
        var candidates: [Int] = []
        var width = min(keepK, 256)
        while true {
            candidates = topIndices(probs, count: width)
            let mass = candidates.reduce(Float(0)) { $0 + probs[$1] }
            if width >= keepK || mass >= o.topP { break }
            width = min(keepK, width * 16)
        }
        // Nucleus: the shortest prefix whose mass reaches top-p (at least one token).
        var kept = 0
        var mass: Float = 0
        for i in candidates {
            kept += 1
            mass += probs[i]
            if mass >= o.topP { break }
        }
        return draw(from: probs, indices: Array(candidates.prefix(kept)), mass: mass, rng: &rng)
    }

    /// Indices of the `count` largest values, largest first (ties: lower index first).
    package static func topIndices(_ values: [Float], count: Int) -> [Int] {
        if count >= values.count {
            return values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        }
        // Keep a sorted buffer of the best `count`; cheap when count ≪ V.
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        var threshold = -Float.infinity
        for i in values.indices {
            let v = values[i]
            if best.count == count && v <= threshold { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if values[best[mid]] >= v { lo = mid + 1 } else { hi = mid }
            }
            best.insert(i, at: lo)
            if best.count > count { best.removeLast() }
            if best.count == count { threshold = values[best[count - 1]] }
        }
        return best
    }

    private static func draw(from probs: [Float], indices: [Int]?, mass: Float, rng: inout SeededGenerator) -> Int {
        let u = rng.nextUnitFloat() * mass
        var acc: Float = 0
        if let indices {
            for i in indices { acc += probs[i]; if u < acc { return i } }
            return indices.last!
        }
        var last = 0
        for i in probs.indices where probs[i] > 0 {
            acc += probs[i]
            last = i
            if u < acc { return i }
        }
        return last
    }

    /// A token drawn from softmax(logits) by inverting its CDF in double precision (the true
    /// Fisher's sampled labels: no temperature, no truncation).
    public static func drawExact(_ logits: UnsafePointer<Float>, count: Int, using rng: inout SeededGenerator) -> Int {
        var m = -Float.infinity
        for i in 0..<count { m = Swift.max(m, logits[i]) }
        var total: Double = 0
        for i in 0..<count { total += exp(Double(logits[i] - m)) }
        var u = Double(rng.next() >> 11) / Double(1 << 53) * total
        for i in 0..<count {
            u -= exp(Double(logits[i] - m))
            if u <= 0 { return i }
        }
        return count - 1
    }
}
