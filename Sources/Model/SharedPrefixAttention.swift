import Foundation

/// Attention over rows packed by `TokenBatch.sharedPrefix`: [padding][prefix][branch 1]…,
/// where a branch's queries see the prefix and their own branch, causally. Each run of
/// equal segment multiplies only against the key ranges it can see, so a group of G
/// completions of one prompt costs the prompt once plus G × (completion × (prompt +
/// completion)) instead of G × (prompt + completion)². The probabilities are kept the same
/// way, run by run: a row holds the run's visible slots only (`BranchRuns`), not T columns.
extension Attention {
    /// One run of rows of equal segment in a packed sequence, with the slot ranges its
    /// queries attend to (the prefix's, then its own) laid side by side as the columns of
    /// its probability rows.
    struct BranchRun: Sendable {
        let rows: Range<Int>
        let keys: [Range<Int>]
        /// Column of each key range's first slot in a probability row, and the row's width.
        let columns: [Int]
        let width: Int
        /// Column of the run's own first slot: a query at row t0 + i sees columns up to own + i.
        let own: Int
        /// visible[column]: that slot is a real token (padding before the prefix is not).
        let visible: [Bool]
        /// Where the run's probabilities [rows.count, width] start in its (sequence, head) block.
        let offset: Int
    }

    /// The runs of every sequence of a shared-prefix layout, and the probabilities each
    /// (sequence, head) keeps: Σ over runs of rows × width. Derived once per layout
    /// (`RowLayout.branchRuns`) and shared by every layer's forward, record and backward.
    struct BranchRuns: Sendable {
        let runs: [[BranchRun]]
        let blockSize: [Int]
        /// Σ of the earlier sequences' block sizes (one block per head each).
        private let blocksBefore: [Int]
        private let total: Int

        func probabilityCount(heads: Int) -> Int { heads * total }

        /// Start of the (sequence b, head h) block in the probabilities buffer.
        func block(_ b: Int, head h: Int, heads: Int) -> Int { heads * blocksBefore[b] + h * blockSize[b] }

        init(segments: [Int], isReal: [Bool], batchSize: Int, length T: Int) {
            var runs: [[BranchRun]] = [], blockSize: [Int] = [], blocksBefore: [Int] = []
            var total = 0
            for b in 0..<batchSize {
                let segment = { (t: Int) in segments[b * T + t] }
                var starts: [Int] = []
                for t in 0..<T where t == 0 || segment(t) != segment(t - 1) { starts.append(t) }
                let spans = starts.enumerated().map { i, s in s..<(i + 1 < starts.count ? starts[i + 1] : T) }
                var offset = 0
                let sequenceRuns = spans.map { span in
                    // Earlier prefix runs, then the run itself (causal within it).
                    let keys = spans.filter { $0.lowerBound < span.lowerBound && segment($0.lowerBound) == 0 } + [span]
                    let columns = keys.indices.map { k in keys[..<k].reduce(0) { $0 + $1.count } }
                    let width = keys.reduce(0) { $0 + $1.count }
                    let visible = keys.flatMap { range in range.map { isReal[b * T + $0] } }
                    let run = BranchRun(rows: span, keys: keys, columns: columns, width: width, own: columns.last!,
                                        visible: visible, offset: offset)
                    offset += span.count * width
                    return run
                }
                runs.append(sequenceRuns)
                blockSize.append(offset)
                blocksBefore.append(total)
                total += offset
            }
            self.runs = runs; self.blockSize = blockSize; self.blocksBefore = blocksBefore; self.total = total
        }
    }

    /// `forward` for a shared-prefix layout (no cache offset: the call's local cache).
    /// `probabilities`, when recorded, holds `BranchRuns.probabilityCount` floats.
    static func forwardSharedPrefix(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, layout: RowLayout,
                                    cache: KVCache, into out: UnsafeMutablePointer<Float>,
                                    probabilities: UnsafeMutablePointer<Float>?) {
        let (B, T, H, KH, hd, group, cap, scale, qStride, keys, values) = dimensions(c, layout, cache, layer: layer)
        let rowBlock = 128
        let layoutRuns = layout.branchRuns!
        let widest = layoutRuns.runs.joined().map(\.width).max() ?? 0
        Parallel.forEachChunk(B * H, costPerItem: T * T * hd / 2) { range in
            let scratch = probabilities == nil ? UnsafeMutablePointer<Float>.allocate(capacity: rowBlock * widest) : nil
            defer { scratch?.deallocate() }
            for pair in range {
                let (b, h) = (pair / H, pair % H)
                let kvBase = ((b * KH + h / group) * cap) * hd
                for run in layoutRuns.runs[b] {
                    let ld = run.width
                    for t0 in stride(from: run.rows.lowerBound, to: run.rows.upperBound, by: rowBlock) {
                        let rowsHere = min(rowBlock, run.rows.upperBound - t0)
                        let first = t0 - run.rows.lowerBound   // the block's first row within the run
                        let scores = probabilities.map { $0 + layoutRuns.block(b, head: h, heads: H) + run.offset + first * ld } ?? scratch!
                        let qBase = q + (b * T + t0) * qStride + h * hd
                        // The own range only up to the block's last row (later slots are masked).
                        let seen = run.keys.map { $0.lowerBound..<min($0.upperBound, t0 + rowsHere) }
                        for (keyRange, column) in zip(seen, run.columns) {
                            sgemm(transB: true, m: rowsHere, n: keyRange.count, k: hd, alpha: scale, a: qBase, lda: qStride,
                                  b: keys + kvBase + keyRange.lowerBound * hd, ldb: hd, c: scores + column, ldc: ld)
                        }
                        run.visible.withUnsafeBufferPointer { visible in
                            for i in 0..<rowsHere {
                                Ops.causalSoftmax(scores + i * ld, count: ld, limit: run.own + first + i, isReal: visible.baseAddress!)
                            }
                        }
                        for (n, (keyRange, column)) in zip(seen, run.columns).enumerated() {
                            sgemm(m: rowsHere, n: hd, k: keyRange.count, a: scores + column, lda: ld,
                                  b: values + kvBase + keyRange.lowerBound * hd, ldb: hd, beta: n == 0 ? 0 : 1,
                                  c: out + (b * T + t0) * qStride + h * hd, ldc: qStride)
                        }
                    }
                }
            }
        }
    }

    /// `backward` for a shared-prefix layout: the formulas of plain attention, each product
    /// restricted to a run's rows and the key ranges it sees (P is zero where a query cannot see).
    static func backwardSharedPrefix(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, probabilities P: UnsafePointer<Float>,
                                     cache: KVCache, layout: RowLayout, outputGradient dO: UnsafePointer<Float>,
                                     dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let (B, T, H, KH, hd, group, cap, scale, qStride, keys, values) = dimensions(c, layout, cache, layer: layer)
        let layoutRuns = layout.branchRuns!
        let largestRun = layoutRuns.runs.joined().map { $0.rows.count * $0.width }.max() ?? 0
        backwardByKVHead(config: c, batchSize: B, length: T, scoreCount: largestRun, costPerItem: group * T * T * hd * 2,
                         dk: dk, dv: dv) { b, kh, dScores, dKBlock, dVBlock in
            let kvBase = ((b * KH + kh) * cap) * hd
            for h in (kh * group)..<((kh + 1) * group) {
                for run in layoutRuns.runs[b] {
                    let (t0, n, ld) = (run.rows.lowerBound, run.rows.count, run.width)
                    let dORun = dO + (b * T + t0) * qStride + h * hd
                    let qRun = q + (b * T + t0) * qStride + h * hd
                    let pRun = P + layoutRuns.block(b, head: h, heads: H) + run.offset
                    // dP = dO Vᵀ and dV += Pᵀ dO over each visible key range.
                    for (keyRange, column) in zip(run.keys, run.columns) {
                        let s0 = keyRange.lowerBound
                        sgemm(transB: true, m: n, n: keyRange.count, k: hd, a: dORun, lda: qStride,
                              b: values + kvBase + s0 * hd, ldb: hd, c: dScores + column, ldc: ld)
                        sgemm(transA: true, m: keyRange.count, n: hd, k: n, a: pRun + column, lda: ld, b: dORun, ldb: qStride,
                              beta: 1, c: dVBlock + s0 * hd, ldc: hd)
                    }
                    // dS = P ⊙ (dP − rowsum(dP ⊙ P)).
                    for i in 0..<n {
                        let pr = pRun + i * ld, dr = dScores + i * ld
                        var dot: Float = 0
                        for s in 0..<ld { dot += pr[s] * dr[s] }
                        for s in 0..<ld { dr[s] = pr[s] * (dr[s] - dot) }
                    }
                    for (k, (keyRange, column)) in zip(run.keys, run.columns).enumerated() {
                        let s0 = keyRange.lowerBound
                        sgemm(m: n, n: hd, k: keyRange.count, alpha: scale, a: dScores + column, lda: ld, b: keys + kvBase + s0 * hd,
                              ldb: hd, beta: k == 0 ? 0 : 1, c: dq + (b * T + t0) * qStride + h * hd, ldc: qStride)
                        sgemm(transA: true, m: keyRange.count, n: hd, k: n, alpha: scale, a: dScores + column, lda: ld, b: qRun,
                              ldb: qStride, beta: 1, c: dKBlock + s0 * hd, ldc: hd)
                    }
                }
            }
        }
    }
}
