import Model

/// LoRA's ΔW = B A with both factors trained (methods.md §2), A [r, in], B [out, r]; the
/// layer applies it with the scale s = α/r it is attached with. For y = s x Aᵀ Bᵀ and the
/// layer's output gradient g: dB += s gᵀ (x Aᵀ), dA += s (g B)ᵀ x.
struct LoRADelta: WeightDelta {
    let a: Parameter
    let b: Parameter

    private var product: LowRankWeightDelta { LowRankWeightDelta(a: a.value, b: b.value) }

    func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                         output: UnsafeMutablePointer<Float>, outFeatures: Int, scale: Float) {
        product.addContribution(input: input, rows: rows, inFeatures: inFeatures, output: output,
                                outFeatures: outFeatures, scale: scale)
    }

    func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                          inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int, scale: Float) {
        product.addInputGradient(outputGradient: outputGradient, rows: rows, outFeatures: outFeatures,
                                 inputGradient: inputGradient, inFeatures: inFeatures, scale: scale)
    }

    func accumulateGradients(input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int, scale: Float) {
        let r = a.value.shape[0]
        let xa = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
            sgemm(transB: true, m: rows, n: r, k: inFeatures, a: x, lda: inFeatures, b: a.value.data, ldb: inFeatures,
                  c: p.baseAddress!, ldc: r)
            n = rows * r
        }
        let gb = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
            sgemm(m: rows, n: r, k: outFeatures, a: g, lda: outFeatures, b: b.value.data, ldb: r, c: p.baseAddress!, ldc: r)
            n = rows * r
        }
        sgemm(transA: true, m: outFeatures, n: r, k: rows, alpha: scale, a: g, lda: outFeatures, b: xa, ldb: r,
              beta: 1, c: b.gradient.mutableData, ldc: r)
        sgemm(transA: true, m: r, n: inFeatures, k: rows, alpha: scale, a: gb, lda: r, b: x, ldb: inFeatures,
              beta: 1, c: a.gradient.mutableData, ldc: inFeatures)
    }
}

/// ΔW = B M A with fixed factors A [r, in] and B [out, r] and a trained r × r core
/// M = Σ_i v_i P_i over fixed projections P [u, r, r] (methods.md §2). TinyLoRA draws P at
/// random and may share v between modules; LoRA-XS is the case u = r² with P the standard
/// basis, so that v is M itself, row-major. The core's gradient is dM = s (g B)ᵀ (x Aᵀ), and
/// dv_i += ⟨dM, P_i⟩.
struct ProjectedCoreDelta: WeightDelta {
    let a: Tensor
    let b: Tensor
    let projections: Tensor
    let v: Parameter

    var rank: Int { a.shape[0] }

    /// M = Σ_i v_i P_i, row-major r × r.
    var core: [Float] {
        let r = rank, u = v.value.count
        var m = [Float](repeating: 0, count: r * r)
        for i in 0..<u {
            let vi = v.value.data[i]
            for j in 0..<(r * r) { m[j] += vi * projections.data[i * r * r + j] }
        }
        return m
    }

    /// The same map as a LoRA pair: B and M A.
    private var product: LowRankWeightDelta {
        let r = rank, inF = a.shape[1]
        let ma = Tensor(zeros: [r, inF])
        sgemm(m: r, n: inF, k: r, a: core, lda: r, b: a.data, ldb: inF, c: ma.mutableData, ldc: inF)
        return LowRankWeightDelta(a: ma, b: b)
    }

    func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                         output: UnsafeMutablePointer<Float>, outFeatures: Int, scale: Float) {
        product.addContribution(input: input, rows: rows, inFeatures: inFeatures, output: output,
                                outFeatures: outFeatures, scale: scale)
    }

    func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                          inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int, scale: Float) {
        product.addInputGradient(outputGradient: outputGradient, rows: rows, outFeatures: outFeatures,
                                 inputGradient: inputGradient, inFeatures: inFeatures, scale: scale)
    }

    func accumulateGradients(input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int, scale: Float) {
        let r = rank, u = v.value.count
        let xa = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
            sgemm(transB: true, m: rows, n: r, k: inFeatures, a: x, lda: inFeatures, b: a.data, ldb: inFeatures,
                  c: p.baseAddress!, ldc: r)
            n = rows * r
        }
        let gb = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
            sgemm(m: rows, n: r, k: outFeatures, a: g, lda: outFeatures, b: b.data, ldb: r, c: p.baseAddress!, ldc: r)
            n = rows * r
        }
        var dm = [Float](repeating: 0, count: r * r)
        sgemm(transA: true, m: r, n: r, k: rows, alpha: scale, a: gb, lda: r, b: xa, ldb: r, c: &dm, ldc: r)
        let dv = v.gradient.mutableData
        for i in 0..<u {
            var s: Float = 0
            for j in 0..<(r * r) { s += dm[j] * projections.data[i * r * r + j] }
            dv[i] += s
        }
    }
}
