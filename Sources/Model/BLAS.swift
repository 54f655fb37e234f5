import CBLAS
import Foundation

/// Row-major single-precision matrix multiply: C = alpha * op(A) * op(B) + beta * C,
/// with op(A) of shape [m, k] and op(B) of shape [k, n]. Leading dimensions are
/// those of the stored (untransposed) matrices.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false,
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

/// A linear layer applied to a batch of rows: y[rows, out] = x[rows, in] · Wᵀ (+ bias).
/// W is stored as Hugging Face stores it, [out, in] row-major.
public func linearForward(_ x: UnsafePointer<Float>, rows: Int, weight w: UnsafePointer<Float>,
                          inFeatures: Int, outFeatures: Int, bias: UnsafePointer<Float>?,
                          into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    if let bias, !accumulate {
        for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
              a: x, lda: inFeatures, b: w, ldb: inFeatures, beta: 1, c: y, ldc: outFeatures)
    } else {
        sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
              a: x, lda: inFeatures, b: w, ldb: inFeatures, beta: accumulate ? 1 : 0,
              c: y, ldc: outFeatures)
        if let bias, accumulate {
            for r in 0..<rows {
                let row = y + r * outFeatures
                for j in 0..<outFeatures { row[j] += bias[j] }
            }
        }
    }
}
