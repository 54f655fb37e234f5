import XCTest
import Model

final class LinearAlgebraTests: XCTestCase {
    func testSymmetricEigenReconstructs() throws {
        let n = 4
        var rng = SeededGenerator(seed: 3)
        let x = (0..<(n * n)).map { _ in Double(rng.nextGaussian()) }
        var a = [Double](repeating: 0, count: n * n)   // XᵀX: symmetric positive semi-definite
        for i in 0..<n { for j in 0..<n { for k in 0..<n { a[i * n + j] += x[k * n + i] * x[k * n + j] } } }
        let (values, vectors) = try LinearAlgebra.symmetricEigen(a, n: n)
        XCTAssertEqual(values, values.sorted())
        for i in 0..<n {
            for j in 0..<n {
                let rebuilt = (0..<n).reduce(0.0) { $0 + vectors[i * n + $1] * values[$1] * vectors[j * n + $1] }
                XCTAssertEqual(rebuilt, a[i * n + j], accuracy: 1e-10)
            }
        }
    }

    func testSVDReconstructs() throws {
        let (rows, columns) = (5, 3)
        var rng = SeededGenerator(seed: 4)
        let a = (0..<(rows * columns)).map { _ in rng.nextGaussian() }
        let (u, sigma, vt) = try LinearAlgebra.svd(a, rows: rows, columns: columns)
        XCTAssertEqual(sigma, sigma.sorted(by: >))
        for i in 0..<rows {
            for j in 0..<columns {
                let rebuilt = (0..<3).reduce(Float(0)) { $0 + u[i * 3 + $1] * sigma[$1] * vt[$1 * columns + j] }
                XCTAssertEqual(rebuilt, a[i * columns + j], accuracy: 1e-5)
            }
        }
    }

    func testOrthonormalizedRowsSpanTheSameSpace() throws {
        let (r, d) = (3, 8)
        var rng = SeededGenerator(seed: 5)
        let original = (0..<(r * d)).map { _ in rng.nextGaussian() }
        var q = original
        try LinearAlgebra.orthonormalizeRows(&q, rows: r, columns: d)
        for i in 0..<r {
            for j in 0..<r {
                let dot = (0..<d).reduce(Float(0)) { $0 + q[i * d + $1] * q[j * d + $1] }
                XCTAssertEqual(dot, i == j ? 1 : 0, accuracy: 1e-5)
            }
            // Each original row lies in the span of the new rows.
            let row = Array(original[(i * d)..<((i + 1) * d)])
            var residual = row
            for k in 0..<r {
                let c = (0..<d).reduce(Float(0)) { $0 + row[$1] * q[k * d + $1] }
                for j in 0..<d { residual[j] -= c * q[k * d + j] }
            }
            XCTAssertLessThan(residual.map(abs).max()!, 1e-4)
        }
        // Orthonormal rows come back unchanged.
        var again = q
        try LinearAlgebra.orthonormalizeRows(&again, rows: r, columns: d)
        for (a, b) in zip(again, q) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testRandomizedSVDMatchesTheTruncatedSVD() throws {
        // A 120 × 80 matrix with singular values 0.7^k: the top 6 triplets by the range finder
        // against LAPACK's, and the error of the rank-6 reconstruction against the optimal one.
        let (m, n, rank) = (120, 80, 6)
        var rng = SeededGenerator(seed: 6)
        var left = (0..<(n * m)).map { _ in rng.nextGaussian() }, right = (0..<(n * n)).map { _ in rng.nextGaussian() }
        try LinearAlgebra.orthonormalizeRows(&left, rows: n, columns: m)
        try LinearAlgebra.orthonormalizeRows(&right, rows: n, columns: n)
        var a = [Float](repeating: 0, count: m * n)
        for k in 0..<n {
            let s = Float(pow(0.7, Double(k)))
            for i in 0..<m { for j in 0..<n { a[i * n + j] += left[k * m + i] * s * right[k * n + j] } }
        }
        let (_, exactSigma, _) = try LinearAlgebra.svd(a, rows: m, columns: n)
        let (u, sigma, v) = try LinearAlgebra.randomizedSVD(a, rows: m, columns: n, rank: rank)
        XCTAssertEqual(sigma.count, rank)
        for k in 0..<rank { XCTAssertEqual(sigma[k], exactSigma[k], accuracy: 1e-4 * exactSigma[0]) }
        func residual(_ u: [Float], _ sigma: [Float], _ v: [Float], scaled: Bool) -> Float {
            var r: Float = 0
            for i in 0..<m {
                for j in 0..<n {
                    let x = (0..<rank).reduce(Float(0)) { $0 + u[i * rank + $1] * (scaled ? 1 : sigma[$1]) * v[j * rank + $1] }
                    r += (a[i * n + j] - x) * (a[i * n + j] - x)
                }
            }
            return r.squareRoot()
        }
        let optimal = exactSigma[rank...].map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertLessThan(residual(u, sigma, v, scaled: false), 1.01 * optimal)
        // U and V have orthonormal columns.
        for p in 0..<rank {
            for q in 0..<rank {
                XCTAssertEqual((0..<m).reduce(Float(0)) { $0 + u[$1 * rank + p] * u[$1 * rank + q] }, p == q ? 1 : 0, accuracy: 1e-4)
                XCTAssertEqual((0..<n).reduce(Float(0)) { $0 + v[$1 * rank + p] * v[$1 * rank + q] }, p == q ? 1 : 0, accuracy: 1e-4)
            }
        }
        // A rank whose sketch covers min(rows, columns) is the exact SVD.
        let (_, full, _) = try LinearAlgebra.randomizedSVD(a, rows: m, columns: n, rank: 75)
        XCTAssertEqual(full, Array(exactSigma.prefix(75)))
    }
}
