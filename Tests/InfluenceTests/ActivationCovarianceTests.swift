import Foundation
import Influence
import Model
import XCTest

final class ActivationCovarianceTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/qwen2_bias_tied_f16").path

    func testCovarianceEqualsDirectComputationOverRealTokens() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let down = LinearID(layer: 1, site: .down)   // no bias: n = in
        let q = LinearID(layer: 0, site: .q)         // qwen2 q has a bias: n = in + 1
        let cov = ActivationCovariance(model: m, modules: [down, q])
        let batch = TokenBatch.leftPadded([[5, 6, 7], [1, 2, 3, 4, 5]])

        var inputs: [LinearID: [[Float]]] = [:]
        var hooks = cov.hooks()
        let collect = hooks.linearTap!
        hooks.linearTap = { id, view in
            collect(id, view)
            if id == down || id == q {
                inputs[id] = (0..<view.rows).filter { view.layout.isReal[$0] }.map { Array(view.row($0)) }
            }
        }
        _ = try m.forward(batch, hooks: hooks, logits: .none)
        XCTAssertEqual(cov.tokenCount, 8)

        for (id, appendOne) in [(down, false), (q, true)] {
            let rows = inputs[id]!.map { appendOne ? $0 + [1] : $0 }
            XCTAssertEqual(rows.count, 8, "padding rows are excluded")
            let n = rows[0].count
            let c = cov.covariance(id)
            XCTAssertEqual(c.count, n * n)
            for i in stride(from: 0, to: n, by: 7) {
                for j in stride(from: 0, to: n, by: 5) {
                    let direct = rows.map { Double($0[i]) * Double($0[j]) }.reduce(0, +) / 8
                    XCTAssertEqual(c[i * n + j], direct, accuracy: 1e-4 * max(1, abs(direct)))
                    XCTAssertEqual(c[i * n + j], c[j * n + i])
                }
            }
            if appendOne { XCTAssertEqual(c[n * n - 1], 1, accuracy: 1e-6) }
        }
        XCTAssertEqual(ActivationCovariance.mlpModules(of: m.config).count, 3 * m.config.layerCount)
    }
}
