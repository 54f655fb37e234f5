import Foundation

/// Causal scaled-dot-product attention with grouped-query heads over a KV cache.
enum Attention {
    /// Stores this call's K and V rows in the cache, then for each sequence b and
    /// head h computes softmax(Q Kᵀ / √headDim + mask) V, where query t (slot
    /// cacheStart + t) may see slot s iff s ≤ cacheStart + t and slot s holds a
    /// real token. Query head h reads KV head h / (heads / kvHeads).
    static func forward(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                        v: UnsafePointer<Float>, layout: RowLayout, cache: KVCache, cacheStart start: Int,
                        into out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>? = nil) {
        let (B, T) = (layout.batchSize, layout.length)
        let (H, KH, hd) = (c.headCount, c.kvHeadCount, c.headDim)
        let cap = cache.capacity
        let keys = cache.keys[layer].mutableData, values = cache.values[layer].mutableData
        // Scatter the new K/V rows [B*T, KH*hd] into [B, KH, cap, hd].
        for b in 0..<B {
            for t in 0..<T {
                let src = (b * T + t) * KH * hd
                for kh in 0..<KH {
                    let dst = ((b * KH + kh) * cap + start + t) * hd
                    (keys + dst).update(from: k + src + kh * hd, count: hd)
                    (values + dst).update(from: v + src + kh * hd, count: hd)
                }
            }
        }
        if layout.segments != nil {
            precondition(start == 0, "a shared-prefix layout runs without a cache offset")
            return forwardSharedPrefix(config: c, layer: layer, q: q, layout: layout, cache: cache, into: out,
                                       probabilities: probabilities)
        }
        let S = start + T
        let group = H / KH
        let scale = 1 / Float(hd).squareRoot()
        let qStride = H * hd
        if T == 1 && probabilities == nil {
            return decodeStep(config: c, layer: layer, q: q, layout: layout, cache: cache, slots: S, into: out)
        }
        // Causal structure: query rows [t0, t1) only see slots < start + t1, so the
        // rows go in blocks and each block multiplies only against the keys it can
        // see (about half the work of one full T × S product for a long prompt).
        let rowBlock = 128
        // The (sequence, head) pairs are independent: they are spread over the
        // cores, each running single-threaded sgemm on its own score buffer.
        // With `probabilities` ([B, H, T, S], for the backward pass) the scores are
        // computed in place there instead, entries a query cannot see set to 0.
        let pairs = B * H
        cache.slotIsReal.withUnsafeBufferPointer { real in
            Parallel.forEachChunk(pairs, costPerItem: T * S * hd) { range in
                let scratch = probabilities == nil ? UnsafeMutablePointer<Float>.allocate(capacity: min(T, rowBlock) * S) : nil
                defer { scratch?.deallocate() }
                for pair in range {
                    let (b, h) = (pair / H, pair % H)
                    let realRow = real.baseAddress! + b * cap
                    let kvBase = ((b * KH + h / group) * cap) * hd
                    for t0 in stride(from: 0, to: T, by: rowBlock) {
                        let rowsHere = min(rowBlock, T - t0)
                        let visible = start + t0 + rowsHere
                        let qBase = q + (b * T + t0) * qStride + h * hd
                        let (scores, ld) = probabilities.map { ($0 + (pair * T + t0) * S, S) } ?? (scratch!, visible)
                        sgemm(transB: true, m: rowsHere, n: visible, k: hd, alpha: scale, a: qBase, lda: qStride,
                              b: keys + kvBase, ldb: hd, c: scores, ldc: ld)
                        for i in 0..<rowsHere {
                            Ops.causalSoftmax(scores + i * ld, count: visible, limit: start + t0 + i, isReal: realRow)
                            if ld > visible { (scores + i * ld + visible).update(repeating: 0, count: ld - visible) }
                        }
                        sgemm(m: rowsHere, n: hd, k: visible, a: scores, lda: ld, b: values + kvBase, ldb: hd,
                              c: out + (b * T + t0) * qStride + h * hd, ldc: qStride)
                    }
                }
            }
        }
    }

    /// One new token per sequence (sampling): the `group` query heads that read one KV head
    /// are adjacent in the query row, so each (sequence, KV head) is one [group, slots]
    /// product instead of `group` single-row ones.
    private static func decodeStep(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, layout: RowLayout,
                                   cache: KVCache, slots S: Int, into out: UnsafeMutablePointer<Float>) {
        let (B, _, H, KH, hd, group, cap, scale, _, keys, values) = dimensions(c, layout, cache, layer: layer)
        cache.slotIsReal.withUnsafeBufferPointer { real in
            Parallel.forEachChunk(B * KH, costPerItem: group * S * hd) { range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: group * S)
                defer { scores.deallocate() }
                for item in range {
                    let (b, kh) = (item / KH, item % KH)
                    let kvBase = ((b * KH + kh) * cap) * hd
                    let heads = b * H * hd + kh * group * hd   // query and output rows of this KV head's group
                    sgemm(transB: true, m: group, n: S, k: hd, alpha: scale, a: q + heads, lda: hd,
                          b: keys + kvBase, ldb: hd, c: scores, ldc: S)
                    for i in 0..<group {
                        Ops.causalSoftmax(scores + i * S, count: S, limit: S - 1, isReal: real.baseAddress! + b * cap)
                    }
                    sgemm(m: group, n: hd, k: S, a: scores, lda: S, b: values + kvBase, ldb: hd, c: out + heads, ldc: hd)
                }
            }
        }
    }

    /// Backward of `forward` without a cache offset: for each sequence b and head h,
    /// with P the probabilities and O = P V:
    ///   dP = dO Vᵀ,  dV += Pᵀ dO,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    ///   dQ = scale · dS K,  dK += scale · dSᵀ Q.
    static func backward(config c: ModelConfig, layer: Int, q: UnsafePointer<Float>, probabilities P: UnsafePointer<Float>,
                         cache: KVCache, layout: RowLayout, outputGradient dO: UnsafePointer<Float>,
                         dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        if layout.segments != nil {
            return backwardSharedPrefix(config: c, layer: layer, q: q, probabilities: P, cache: cache, layout: layout,
                                        outputGradient: dO, dq: dq, dk: dk, dv: dv)
        }
        let (B, T, H, KH, hd, group, cap, scale, qStride, keys, values) = dimensions(c, layout, cache, layer: layer)
        backwardByKVHead(config: c, batchSize: B, length: T, scoreCount: T * T, costPerItem: group * T * T * hd * 4,
                         dk: dk, dv: dv) { b, kh, dScores, dKBlock, dVBlock in
            let kvBase = ((b * KH + kh) * cap) * hd
            for h in (kh * group)..<((kh + 1) * group) {
                let p = P + (b * H + h) * T * T
                let dOBase = dO + b * T * qStride + h * hd
                let qBase = q + b * T * qStride + h * hd
                sgemm(transB: true, m: T, n: T, k: hd, a: dOBase, lda: qStride, b: values + kvBase, ldb: hd,
                      c: dScores, ldc: T)
                sgemm(transA: true, m: T, n: hd, k: T, a: p, lda: T, b: dOBase, ldb: qStride,
                      beta: 1, c: dVBlock, ldc: hd)
                for t in 0..<T {
                    let pr = p + t * T, dr = dScores + t * T
                    var dot: Float = 0
                    for s in 0...t { dot += pr[s] * dr[s] }
                    for s in 0..<T { dr[s] = pr[s] * (dr[s] - dot) }
                }
                sgemm(m: T, n: hd, k: T, alpha: scale, a: dScores, lda: T, b: keys + kvBase, ldb: hd,
                      c: dq + b * T * qStride + h * hd, ldc: qStride)
                sgemm(transA: true, m: T, n: hd, k: T, alpha: scale, a: dScores, lda: T, b: qBase, ldb: qStride,
                      beta: 1, c: dKBlock, ldc: hd)
            }
        }
    }

    /// The sizes and cached keys and values an attention pass over `layout` works with: batch,
    /// length, query and KV heads, head width, query heads per KV head, cache capacity,
    /// 1/√headDim and the width of a query row.
    static func dimensions(_ c: ModelConfig, _ layout: RowLayout, _ cache: KVCache, layer: Int)
        -> (B: Int, T: Int, H: Int, KH: Int, hd: Int, group: Int, cap: Int, scale: Float, qStride: Int,
            keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        (layout.batchSize, layout.length, c.headCount, c.kvHeadCount, c.headDim, c.headCount / c.kvHeadCount,
         cache.capacity, 1 / Float(c.headDim).squareRoot(), c.headCount * c.headDim,
         cache.keys[layer].data, cache.values[layer].data)
    }

    /// The frame of attention's backward pass: work is split by (sequence b, KV head kh) so
    /// that the query heads sharing a KV head accumulate into it on one thread. `body` gets a
    /// scratch of `scoreCount` floats for dScores and the zeroed [T, hd] blocks of dK and dV
    /// for (b, kh), which are then written to the rows of `dk` and `dv`.
    static func backwardByKVHead(config c: ModelConfig, batchSize B: Int, length T: Int, scoreCount: Int, costPerItem: Int,
                                 dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                 _ body: (_ b: Int, _ kh: Int, _ dScores: UnsafeMutablePointer<Float>,
                                          _ dKBlock: UnsafeMutablePointer<Float>, _ dVBlock: UnsafeMutablePointer<Float>) -> Void) {
        let (KH, hd) = (c.kvHeadCount, c.headDim)
        let kvStride = KH * hd
        Parallel.forEachChunk(B * KH, costPerItem: costPerItem) { range in
            let dScores = UnsafeMutablePointer<Float>.allocate(capacity: max(scoreCount, 1))
            let dKBlock = UnsafeMutablePointer<Float>.allocate(capacity: T * hd)
            let dVBlock = UnsafeMutablePointer<Float>.allocate(capacity: T * hd)
            defer { dScores.deallocate(); dKBlock.deallocate(); dVBlock.deallocate() }
            for item in range {
                let (b, kh) = (item / KH, item % KH)
                dKBlock.update(repeating: 0, count: T * hd)
                dVBlock.update(repeating: 0, count: T * hd)
                body(b, kh, dScores, dKBlock, dVBlock)
                for t in 0..<T {
                    (dk + (b * T + t) * kvStride + kh * hd).update(from: dKBlock + t * hd, count: hd)
                    (dv + (b * T + t) * kvStride + kh * hd).update(from: dVBlock + t * hd, count: hd)
                }
            }
        }
    }
}
