import Foundation
import Model
import XCTest

final class TokenDistributionTests: XCTestCase {
    /// The per-row objective: gradient row r is c_r (softmax − onehot), log-probs are exact,
    /// unlabelled rows get nothing; the same call serves a supervised mean (c = 1/N) and a
    /// policy gradient −Σ (A_r/N) log π (c_r = A_r / N).
    func testPerRowCoefficients() {
        let V = 5
        let logits = Tensor(shape: [3, V], values: [0.1, 2, -1, 0.5, 0, 1, 1, 1, 1, 1, -3, 0, 3, 0.2, 0.2])
        let labels: [Int?] = [1, nil, 2]
        let coefficients = [0.5, 9, -2]
        let (logProbabilities, gradient) = TokenDistribution.chosenLogProbabilities(
            logits: logits, labels: labels, coefficient: { r, _ in coefficients[r] })
        for r in [0, 2] {
            let row = Array(logits.values[(r * V)..<((r + 1) * V)]).map(Double.init)
            let z = row.map(exp).reduce(0, +)
            XCTAssertEqual(logProbabilities[r]!, row[labels[r]!] - log(z), accuracy: 1e-6)
            for j in 0..<V {
                let expected = coefficients[r] * (exp(row[j]) / z - (j == labels[r]! ? 1 : 0))
                XCTAssertEqual(Double(gradient.values[r * V + j]), expected, accuracy: 1e-6)
            }
        }
        XCTAssertNil(logProbabilities[1])
        XCTAssertEqual(Array(gradient.values[V..<(2 * V)]), [Float](repeating: 0, count: V))
    }

    /// k3 = e^δ − δ − 1 with δ = log π_ref − log π: zero at equality, positive elsewhere, and
    /// its derivative in log π matches central differences.
    func testK3Estimator() {
        XCTAssertEqual(TokenDistribution.k3(logProbability: -1.3, referenceLogProbability: -1.3).value, 0, accuracy: 1e-12)
        for (lp, ref) in [(-2.0, -1.0), (-0.5, -3.0), (-1.0, -1.2)] {
            let (value, derivative) = TokenDistribution.k3(logProbability: lp, referenceLogProbability: ref)
            XCTAssertGreaterThan(value, 0)
            let h = 1e-5
            let numeric = (TokenDistribution.k3(logProbability: lp + h, referenceLogProbability: ref).value
                - TokenDistribution.k3(logProbability: lp - h, referenceLogProbability: ref).value) / (2 * h)
            XCTAssertEqual(derivative, numeric, accuracy: 1e-6)
        }
    }

    func testGeneratorStateRoundTrips() {
        var a = SeededGenerator(seed: 42)
        for _ in 0..<7 { _ = a.next() }
        var b = SeededGenerator(state: a.state)
        XCTAssertEqual((0..<5).map { _ in a.next() }, (0..<5).map { _ in b.next() })
    }
}
