import Foundation
import Influence
import Model
import XCTest

/// EK-FAC against the exact Fisher on a model small enough to form it: one tracked
/// module of 12 × 8 = 96 weights, F = mean over sequences of vec(G_n) vec(G_n)ᵀ.
final class EKFACExactTests: XCTestCase {
    func testEigenvalueCorrectionAndPreconditionerAgainstExactFisher() throws {
        let config = ModelConfig(architecture: .llama, hiddenSize: 8, intermediateSize: 12, layerCount: 1, headCount: 2,
                                 kvHeadCount: 1, vocabSize: 24, rmsNormEps: 1e-5, tieWordEmbeddings: true)
        let model = TransformerModel(config: config, weights: .random(config: config, seed: 3, std: 0.5))
        var rng = SeededGenerator(seed: 9)
        let sequences = (0..<40).map { _ in (0..<(3 + Int(rng.next() % 6))).map { _ in Int(rng.next() % 24) } }
        let module = try TrackedModule.select("model.layers.0.mlp.down_proj", model: model)
        var options = EKFACFactors.Options()
        options.fisher = .empirical
        let factors = try EKFACFactors.fit(model: model, sequences: { body in
            for (i, s) in sequences.enumerated() { guard try body(i, s) else { return } }
        }, modules: module, options: options)
        let f = factors.modules[0]
        let (o, n) = (module[0].outputDimension, module[0].inputDimension)
        let P = o * n

        // The exact Fisher of this module, in float64.
        let capture = GradientCapture(model: model, modules: module)
        var fisher = [Double](repeating: 0, count: P * P)
        for s in sequences {
            let G = weightGradient(try capture.run(tokens: s).activity[module[0].id]!, module[0]).map(Double.init)
            for i in 0..<P { for j in 0..<P { fisher[i * P + j] += G[i] * G[j] / Double(sequences.count) } }
        }
        // K = Q_S ⊗ Q_A: column (i, j) is vec(q_S,i q_A,jᵀ).
        var K = [Double](repeating: 0, count: P * P)
        for i in 0..<o { for j in 0..<n { for r in 0..<o { for c in 0..<n {
            K[(r * n + c) * P + (i * n + j)] = Double(f.qs[r * o + i]) * Double(f.qa[c * n + j])
        } } } }
        // (a) Λ is exactly the diagonal of F in the Kronecker eigenbasis: Λ_ij = k_ijᵀ F k_ij.
        for col in 0..<P {
            var v = 0.0
            for r in 0..<P { for c in 0..<P { v += K[r * P + col] * fisher[r * P + c] * K[c * P + col] } }
            XCTAssertEqual(Double(f.lambda[col]), v, accuracy: 1e-4 * max(v, 1e-6), "Λ[\(col)]")
        }
        // (b) precondition(G) = (K diag(Λ) Kᵀ + λI)⁻¹ vec(G), solved directly.
        let damping = f.heuristicDamping
        var approx = [Double](repeating: 0, count: P * P)
        for r in 0..<P { for c in 0..<P {
            var v = 0.0
            for k in 0..<P { v += K[r * P + k] * Double(f.lambda[k]) * K[c * P + k] }
            approx[r * P + c] = v + (r == c ? damping : 0)
        } }
        let query = weightGradient(try capture.run(tokens: [1, 5, 9, 2, 7]).activity[module[0].id]!, module[0])
        let solved = solve(approx, Array(query.map(Double.init)), size: P)
        let pre = f.precondition(query, damping: damping)
        let scale = solved.map(abs).max()!
        for i in 0..<P { XCTAssertEqual(Double(pre[i]), solved[i], accuracy: 2e-3 * scale) }
        // (c) and, for the record, how far EK-FAC is from the exact damped inverse: cosine.
        var exactMatrix = fisher
        for i in 0..<P { exactMatrix[i * P + i] += damping }
        let exact = solve(exactMatrix, query.map(Double.init), size: P)
        let cosine = zip(exact, solved).reduce(0) { $0 + $1.0 * $1.1 }
            / (exact.reduce(0) { $0 + $1 * $1 }.squareRoot() * solved.reduce(0) { $0 + $1 * $1 }.squareRoot())
        XCTAssertGreaterThan(cosine, 0.5, "EK-FAC and the exact inverse point the same way")
    }

    /// Gaussian elimination with partial pivoting (the test's own solver).
    func solve(_ matrix: [Double], _ rhs: [Double], size n: Int) -> [Double] {
        var a = matrix, b = rhs
        for col in 0..<n {
            let pivot = (col..<n).max { abs(a[$0 * n + col]) < abs(a[$1 * n + col]) }!
            if pivot != col {
                for k in 0..<n { a.swapAt(col * n + k, pivot * n + k) }
                b.swapAt(col, pivot)
            }
            for r in (col + 1)..<n {
                let factor = a[r * n + col] / a[col * n + col]
                if factor == 0 { continue }
                for k in col..<n { a[r * n + k] -= factor * a[col * n + k] }
                b[r] -= factor * b[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = b[r]
            for k in (r + 1)..<n { s -= a[r * n + k] * x[k] }
            x[r] = s / a[r * n + r]
        }
        return x
    }
}
