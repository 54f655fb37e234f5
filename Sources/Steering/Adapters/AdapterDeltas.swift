import Model

/// A weight delta that is a product B · A' of small factors (`product`): the forward pass and
/// the input gradient go through `LowRankWeightDelta`; the parameter gradients need x Aᵀ and
/// g B, which `projections` computes.
protocol FactoredWeightDelta: WeightDelta {
    /// ΔW as B [out, r] · A' [r, in] at the current parameter values.
    var product: LowRankWeightDelta { get }
}

extension FactoredWeightDelta {
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

    /// s ΔW [out, in] as a dense row-major matrix (merging).
    func dense(scale: Float) -> [Float] {
        let p = product, r = p.a.shape[0], inF = p.a.shape[1], out = p.b.shape[0]
        var w = [Float](repeating: 0, count: out * inF)
        sgemm(m: out, n: inF, k: r, alpha: scale, a: p.b.data, lda: r, b: p.a.data, ldb: inF, c: &w, ldc: inF)
        return w
    }
}

/// x Aᵀ and g B ([rows, r] each) for input rows x [rows, in] and output gradients g [rows, out].
func projections(input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>, rows: Int,
                 a: Tensor, b: Tensor) -> (xa: [Float], gb: [Float]) {
    let (r, inF, out) = (a.shape[0], a.shape[1], b.shape[0])
    let xa = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
        sgemm(transB: true, m: rows, n: r, k: inF, a: x, lda: inF, b: a.data, ldb: inF, c: p.baseAddress!, ldc: r)
        n = rows * r
    }
    let gb = [Float](unsafeUninitializedCapacity: rows * r) { p, n in
        sgemm(m: rows, n: r, k: out, a: g, lda: out, b: b.data, ldb: r, c: p.baseAddress!, ldc: r)
        n = rows * r
    }
    return (xa, gb)
}

/// LoRA's ΔW = B A with both factors trained (methods.md §2), A [r, in], B [out, r]; the
/// layer applies it with the scale s = α/r it is attached with. For y = s x Aᵀ Bᵀ and the
/// layer's output gradient g: dB += s gᵀ (x Aᵀ), dA += s (g B)ᵀ x.
struct LoRADelta: FactoredWeightDelta {
    let a: Parameter
    let b: Parameter

    var product: LowRankWeightDelta { LowRankWeightDelta(a: a.value, b: b.value) }

    func accumulateGradients(input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int, scale: Float) {
        let r = a.value.shape[0]
        let (xa, gb) = projections(input: x, outputGradient: g, rows: rows, a: a.value, b: b.value)
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
struct ProjectedCoreDelta: FactoredWeightDelta {
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
    var product: LowRankWeightDelta {
        let r = rank, inF = a.shape[1]
        let ma = Tensor(zeros: [r, inF])
        sgemm(m: r, n: inF, k: r, a: core, lda: r, b: a.data, ldb: inF, c: ma.mutableData, ldc: inF)
        return LowRankWeightDelta(a: ma, b: b)
    }

    func accumulateGradients(input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int, scale: Float) {
        let r = rank, u = v.value.count
        let (xa, gb) = Steering.projections(input: x, outputGradient: g, rows: rows, a: a, b: b)
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
