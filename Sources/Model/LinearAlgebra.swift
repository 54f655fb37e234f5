import CBLAS
import Foundation

/// LAPACK through LAPACKE, row-major, with errors instead of status codes: the symmetric
/// eigendecomposition of EK-FAC's covariances, the SVDs of influence's query compression
/// and of TinyLoRA's frozen weights, and the QR that keeps LoReFT's rows orthonormal.
public enum LinearAlgebra {
    /// Eigendecomposition of a symmetric n × n matrix (float64, `dsyevd`; only the upper
    /// triangle is read). Returns the eigenvalues in ascending order and the eigenvectors as
    /// the columns of the row-major n × n `vectors`.
    public static func symmetricEigen(_ matrix: [Double], n: Int) throws -> (values: [Double], vectors: [Double]) {
        precondition(matrix.count == n * n, "\(matrix.count) values for a \(n) × \(n) matrix")
        var a = matrix, w = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(n), &a, Int32(n), &w)
        guard info == 0 else { throw WorkbenchError("symmetric eigendecomposition failed (LAPACKE_dsyevd info \(info))") }
        return (w, a)
    }

    /// Thin SVD of a row-major rows × columns float32 matrix (`sgesdd`): A = U diag(σ) Vᵀ with
    /// U [rows, p], σ [p] descending, Vᵀ [p, columns], p = min(rows, columns).
    public static func svd(_ matrix: [Float], rows: Int, columns: Int) throws -> (u: [Float], sigma: [Float], vt: [Float]) {
        precondition(matrix.count == rows * columns, "\(matrix.count) values for a \(rows) × \(columns) matrix")
        let p = min(rows, columns)
        var a = matrix, sigma = [Float](repeating: 0, count: p)
        var u = [Float](repeating: 0, count: rows * p), vt = [Float](repeating: 0, count: p * columns)
        let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(rows), Int32(columns), &a, Int32(columns),
                                  &sigma, &u, Int32(p), &vt, Int32(columns))
        guard info == 0 else { throw WorkbenchError("SVD failed (LAPACKE_sgesdd info \(info))") }
        return (u, sigma, vt)
    }

    /// Orthonormalises the rows of a row-major r × d matrix (r ≤ d) in place by QR of its
    /// transpose (`sgeqrf` + `sorgqr`): the result spans the same row space, its rows are
    /// orthonormal, and row i keeps the sign of its component along the Gram–Schmidt
    /// direction (the R factor's diagonal is made positive), so a matrix whose rows are
    /// already orthonormal comes back unchanged up to rounding.
    public static func orthonormalizeRows(_ matrix: inout [Float], rows r: Int, columns d: Int) throws {
        precondition(matrix.count == r * d && r <= d, "orthonormal rows need an r × d matrix with r ≤ d")
        // Aᵀ is d × r; in row-major storage that is A read column-major, i.e. A itself with
        // LAPACK_COL_MAJOR and leading dimension d.
        var tau = [Float](repeating: 0, count: r)
        var info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, Int32(d), Int32(r), &matrix, Int32(d), &tau)
        guard info == 0 else { throw WorkbenchError("QR factorisation failed (LAPACKE_sgeqrf info \(info))") }
        let diagonalSigns = (0..<r).map { matrix[$0 * d + $0] < 0 ? Float(-1) : Float(1) }
        info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, Int32(d), Int32(r), Int32(r), &matrix, Int32(d), &tau)
        guard info == 0 else { throw WorkbenchError("forming Q failed (LAPACKE_sorgqr info \(info))") }
        for i in 0..<r where diagonalSigns[i] < 0 {
            for j in 0..<d { matrix[i * d + j] = -matrix[i * d + j] }
        }
    }

    /// The top `rank` singular triplets of a row-major rows × columns matrix by a randomized
    /// range finder with subspace iteration (Halko, Martinsson & Tropp 2011, Algorithm 4.4):
    /// k = rank + `oversampling` columns of a seeded Gaussian sketch, `powerIterations`
    /// rounds of Aᵀ then A, each followed by QR, and the exact SVD of the k × columns projection.
    /// Returns U [rows, r], σ [r] descending and V [columns, r], r = min(rank, rows, columns).
    /// Cost ≈ 2 (2q + 2) · rows · columns · k flops against sgesdd's ~ rows · columns · min(rows,
    /// columns); when k reaches min(rows, columns) it is the exact SVD, truncated.
    public static func randomizedSVD(_ matrix: [Float], rows m: Int, columns n: Int, rank: Int,
                                     oversampling: Int = 8, powerIterations: Int = 2, seed: UInt64 = 0) throws
        -> (u: [Float], sigma: [Float], v: [Float]) {
        precondition(matrix.count == m * n, "\(matrix.count) values for a \(m) × \(n) matrix")
        let r = min(rank, m, n), k = rank + oversampling
        func truncate(_ u: [Float], _ sigma: [Float], _ vt: [Float], width: Int) -> (u: [Float], sigma: [Float], v: [Float]) {
            var U = [Float](repeating: 0, count: m * r), V = [Float](repeating: 0, count: n * r)
            for i in 0..<m { for j in 0..<r { U[i * r + j] = u[i * width + j] } }
            for j in 0..<n { for i in 0..<r { V[j * r + i] = vt[i * n + j] } }
            return (U, Array(sigma.prefix(r)), V)
        }
        if k >= min(m, n) {
            let (u, sigma, vt) = try svd(matrix, rows: m, columns: n)
            return truncate(u, sigma, vt, width: min(m, n))
        }
        // Rows of `basis` (k × m) span the estimate of A's column space.
        var generator = SeededGenerator(seed: seed)
        let sketch = (0..<(k * n)).map { _ in generator.nextGaussian() }   // Ωᵀ, k × n
        var basis = [Float](repeating: 0, count: k * m), rowSpace = [Float](repeating: 0, count: k * n)
        sgemm(transB: true, m: k, n: m, k: n, a: sketch, lda: n, b: matrix, ldb: n, c: &basis, ldc: m)   // (A Ω)ᵀ
        try orthonormalizeRows(&basis, rows: k, columns: m)
        for _ in 0..<powerIterations {
            sgemm(m: k, n: n, k: m, a: basis, lda: m, b: matrix, ldb: n, c: &rowSpace, ldc: n)            // (Aᵀ Q)ᵀ
            try orthonormalizeRows(&rowSpace, rows: k, columns: n)
            sgemm(transB: true, m: k, n: m, k: n, a: rowSpace, lda: n, b: matrix, ldb: n, c: &basis, ldc: m) // (A Z)ᵀ
            try orthonormalizeRows(&basis, rows: k, columns: m)
        }
        sgemm(m: k, n: n, k: m, a: basis, lda: m, b: matrix, ldb: n, c: &rowSpace, ldc: n)                // B = Qᵀ A
        let (ub, sigma, vt) = try svd(rowSpace, rows: k, columns: n)                                      // B = U_B Σ Vᵀ
        var u = [Float](repeating: 0, count: m * k)
        sgemm(transA: true, m: m, n: k, k: k, a: basis, lda: m, b: ub, ldb: k, c: &u, ldc: k)             // U = Q U_B
        return truncate(u, sigma, vt, width: k)
    }
}
