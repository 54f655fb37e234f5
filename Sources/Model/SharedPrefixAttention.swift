import Foundation

/// Attention over rows packed by `TokenBatch.sharedPrefix`: [padding][prefix][branch 1]…,
/// where a branch's queries see the prefix and their own branch, causally. Each run of
/// equal segment multiplies only against the key ranges it can see, so a group of G
/// completions of one prompt costs the prompt once plus G × (completion × (prompt +
/// completion)) instead of G × (prompt + completion)². The probabilities are kept in the
/// same [B, H, T, T] layout as plain causal attention, zero wherever a query cannot see.
extension Attention {
    /// One run of rows of equal segment in a packed sequence, with the slot ranges its
    /// queries attend to (the prefix's, then its own) and which slots are visible at all.
    struct BranchRun {
        let rows: Range<Int>
        let keys: [Range<Int>]
        /// visible[s]: slot s is a real token of the prefix or of this run.
        let visible: [Bool]
    }

    /// The runs of every sequence of a shared-prefix layout, sequence by sequence.
    static func branchRuns(_ layout: RowLayout) -> [[BranchRun]] {
        guard let segments = layout.segments else { preconditionFailure("not a shared-prefix layout") }
        let T = layout.length
        return (0..<layout.batchSize).map { b in
            let segment = { (t: Int) in segments[b * T + t] }
            var starts: [Int] = []
            for t in 0..<T where t == 0 || segment(t) != segment(t - 1) { starts.append(t) }
            let spans = starts.enumerated().map { i, s in s..<(i + 1 < starts.count ? starts[i + 1] : T) }
            return spans.map { span in
                let own = segment(span.lowerBound)
                let keys = spans.filter { $0.lowerBound <= span.lowerBound && (segment($0.lowerBound) == 0 || $0 == span) }
                let visible = (0..<T).map { s in layout.isReal[b * T + s] && (segment(s) == 0 || segment(s) == own) && s < span.upperBound }
                return BranchRun(rows: span, keys: keys, visible: visible)
            }
        }
    }

    /// `forward` for a shared-prefix layout (no cache offset: the call's local cache).
    static func forwardSharedPrefix(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, layout: RowLayout,
                                    cache: KVCache, into out: UnsafeMutablePointer<Float>,
                                    probabilities: UnsafeMutablePointer<Float>?) {
        let (B, T) = (layout.batchSize, layout.length)
        let (H, KH, hd) = (c.headCount, c.kvHeadCount, c.headDim)
        let cap = cache.capacity
        let keys = cache.keys[layer].data, values = cache.values[layer].data
        let group = H / KH
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd
        let rowBlock = 128
        let runs = branchRuns(layout)
        Parallel.forEachChunk(B * H, costPerItem: T * T * hd / 2) { range in
            let scratch = probabilities == nil ? UnsafeMutablePointer<Float>.allocate(capacity: min(T, rowBlock) * T) : nil
            defer { scratch?.deallocate() }
            for pair in range {
                let (b, h) = (pair / H, pair % H)
                let kvBase = ((b * KH + h / group) * cap) * hd
                for run in runs[b] {
                    for t0 in stride(from: run.rows.lowerBound, to: run.rows.upperBound, by: rowBlock) {
                        let rowsHere = min(rowBlock, run.rows.upperBound - t0)
                        // Scores sit at their slot's column in a T-wide row: the keys' ranges
                        // are not adjacent, and the backward pass reads them back by slot.
                        let scores = probabilities.map { $0 + (pair * T + t0) * T } ?? scratch!
                        let qBase = q + (b * T + t0) * qStride + h * hd
                        let seen = run.keys.map { $0.lowerBound..<min($0.upperBound, t0 + rowsHere) }
                        for keyRange in seen {
                            sgemm(transB: true, m: rowsHere, n: keyRange.count, k: hd, alpha: scale, a: qBase, lda: qStride,
                                  b: keys + kvBase + keyRange.lowerBound * hd, ldb: hd, c: scores + keyRange.lowerBound, ldc: T)
                        }
                        run.visible.withUnsafeBufferPointer { visible in
                            for i in 0..<rowsHere {
                                Ops.causalSoftmax(scores + i * T, count: t0 + rowsHere, limit: t0 + i, isReal: visible.baseAddress!)
                            }
                        }
                        for (n, keyRange) in seen.enumerated() {
                            sgemm(m: rowsHere, n: hd, k: keyRange.count, a: scores + keyRange.lowerBound, lda: T,
                                  b: values + kvBase + keyRange.lowerBound * hd, ldb: hd, beta: n == 0 ? 0 : 1,
                                  c: out + (b * T + t0) * qStride + h * hd, ldc: qStride)
                        }
                    }
                }
            }
        }
    }

    /// `backward` for a shared-prefix layout: the formulas of plain attention, each product
    /// restricted to a run's rows and the key ranges it sees (P is zero elsewhere).
    static func backwardSharedPrefix(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, probabilities P: UnsafePointer<Float>,
                                     cache: KVCache, layout: RowLayout, outputGradient dO: UnsafePointer<Float>,
                                     dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let (B, T) = (layout.batchSize, layout.length)
        let (H, KH, hd) = (c.headCount, c.kvHeadCount, c.headDim)
        let cap = cache.capacity
        let group = H / KH
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd
        let keys = cache.keys[layer].data, values = cache.values[layer].data
        let runs = branchRuns(layout)
        backwardByKVHead(config: c, batchSize: B, length: T, costPerItem: group * T * T * hd * 2, dk: dk, dv: dv) { b, kh, dScores, dKBlock, dVBlock in
            let kvBase = ((b * KH + kh) * cap) * hd
            for h in (kh * group)..<((kh + 1) * group) {
                let p = P + (b * H + h) * T * T
                for run in runs[b] {
                    let (t0, n) = (run.rows.lowerBound, run.rows.count)
                    let dORun = dO + (b * T + t0) * qStride + h * hd
                    let qRun = q + (b * T + t0) * qStride + h * hd
                    let pRun = p + t0 * T, dSRun = dScores + t0 * T
                    // dP = dO Vᵀ and dV += Pᵀ dO over each visible key range.
                    for keyRange in run.keys {
                        let s0 = keyRange.lowerBound
                        sgemm(transB: true, m: n, n: keyRange.count, k: hd, a: dORun, lda: qStride,
                              b: values + kvBase + s0 * hd, ldb: hd, c: dSRun + s0, ldc: T)
                        sgemm(transA: true, m: keyRange.count, n: hd, k: n, a: pRun + s0, lda: T, b: dORun, ldb: qStride,
                              beta: 1, c: dVBlock + s0 * hd, ldc: hd)
                    }
                    // dS = P ⊙ (dP − rowsum(dP ⊙ P)); P is zero past the diagonal.
                    for i in 0..<n {
                        let pr = pRun + i * T, dr = dSRun + i * T
                        var dot: Float = 0
                        for keyRange in run.keys { for s in keyRange { dot += pr[s] * dr[s] } }
                        for keyRange in run.keys { for s in keyRange { dr[s] = pr[s] * (dr[s] - dot) } }
                    }
                    for (k, keyRange) in run.keys.enumerated() {
                        let s0 = keyRange.lowerBound
                        sgemm(m: n, n: hd, k: keyRange.count, alpha: scale, a: dSRun + s0, lda: T, b: keys + kvBase + s0 * hd,
                              ldb: hd, beta: k == 0 ? 0 : 1, c: dq + (b * T + t0) * qStride + h * hd, ldc: qStride)
                        sgemm(transA: true, m: keyRange.count, n: hd, k: n, alpha: scale, a: dSRun + s0, lda: T, b: qRun,
                              ldb: qStride, beta: 1, c: dKBlock + s0 * hd, ldc: hd)
                    }
                }
            }
        }
    }
}
