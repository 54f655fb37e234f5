import CBLAS
import CKernels
import Foundation

/// Row-major single-precision matrix multiply: C = alpha * op(A) * op(B) + beta * C,
/// with op(A) of shape [m, k] and op(B) of shape [k, n]. Leading dimensions are
/// those of the stored (untransposed) matrices.
@inline(__always)
package func sgemm(transA: Bool = false, transB: Bool = false,
                  m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha,
                a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// A linear layer applied to a batch of rows: y[rows, out] = x[rows, in] · Wᵀ (+ bias),
/// or y += x · Wᵀ (+ bias) with `accumulate`. W is stored as Hugging Face stores it,
/// [out, in] row-major. Few rows (decoding) go to `SkinnyGemm`, the rest to sgemm.
package func linearForward(_ x: UnsafePointer<Float>, rows: Int, weight w: UnsafePointer<Float>,
                          inFeatures: Int, outFeatures: Int, bias: UnsafePointer<Float>?,
                          into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    if !SkinnyGemm.run(x, rows: rows, weight: w, inFeatures: inFeatures, outFeatures: outFeatures,
                       into: y, accumulate: accumulate) {
        sgemmParallel(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                      b: w, ldb: inFeatures, beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
    }
    if let bias {
        for r in 0..<rows {
            let row = y + r * outFeatures
            for j in 0..<outFeatures { row[j] += bias[j] }
        }
    }
}

/// `sgemm` with the output columns split across the workbench's workers, each
/// running single-threaded sgemm on its slice (see BLASRuntime.singleThreadedCalls).
package func sgemmParallel(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let columnBlock = 64
    let blocks = (n + columnBlock - 1) / columnBlock
    Parallel.forEachChunk(blocks, costPerItem: m * k * columnBlock) { range in
        let j0 = range.lowerBound * columnBlock
        let j1 = min(n, range.upperBound * columnBlock)
        sgemm(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
              b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
    }
}

/// x · Wᵀ for up to `maxRows` rows. OpenBLAS packs W before multiplying, which
/// for a few dozen rows costs more than the product (decoding 32 sequences of
/// SmolLM2 spent 31% of its time in that packing). This kernel (Sources/CKernels)
/// streams W once without packing, split by output columns across the cores.
package enum SkinnyGemm {
    /// The instruction set of the kernel, named only by tests and benchmarks.
    package enum Kernel: Int32, CaseIterable, Sendable { case avx2 = 1, avx512 = 2 }

    /// Up to this many rows the kernel beats OpenBLAS's sgemm on the real models'
    /// shapes (`workbench bench --products` measures both; docs/benchmarks.md).
    package static let maxRows = 128

    /// Whether this CPU has a vector kernel (AVX-512 or AVX2 + FMA).
    package static let isAvailable: Bool = isAvailable(nil)

    package static func isAvailable(_ kernel: Kernel?) -> Bool {
        var y: Float = 0, v: Float = 0
        return call(kernel, 0, 1, 0, 0, &v, &v, &y, 1, 0) == 1
    }

    /// Returns false (and does nothing) when the shape or the CPU does not suit.
    package static func run(_ x: UnsafePointer<Float>, rows: Int, weight w: UnsafePointer<Float>,
                           inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>,
                           accumulate: Bool, kernel: Kernel? = nil, rowLimit: Int = maxRows) -> Bool {
        guard isAvailable(kernel), rows >= 1, rows <= rowLimit, inFeatures * outFeatures >= 16_384 else { return false }
        Parallel.forEachChunk(outFeatures, costPerItem: inFeatures * rows) { range in
            _ = call(kernel, Int32(rows), Int32(inFeatures), Int32(range.lowerBound), Int32(range.upperBound),
                     x, w, y, Int32(outFeatures), accumulate ? 1 : 0)
        }
        return true
    }

    private static func call(_ kernel: Kernel?, _ m: Int32, _ k: Int32, _ j0: Int32, _ j1: Int32,
                             _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             _ ldy: Int32, _ accumulate: Int32) -> Int32 {
        guard let kernel else { return wb_skinny_gemm_nt(m, k, j0, j1, x, w, y, ldy, accumulate) }
        return wb_skinny_gemm_nt_isa(kernel.rawValue, m, k, j0, j1, x, w, y, ldy, accumulate)
    }
}

/// C = XᵀX for X [k, n] (only the upper triangle is written).
package func ssyrkUpper(n: Int, k: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(n), blasint(k), 1, a, blasint(n), 0, c, blasint(n))
}
