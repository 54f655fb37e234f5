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
}
