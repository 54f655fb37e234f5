import Foundation
import Influence
import Model
import XCTest

/// The fit's activation covariance A = E[ã ãᵀ] (ã = a with 1 appended for a bias),
/// rebuilt from its eigendecomposition, against the layer inputs seen by the forward tap.
final class CovarianceTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/qwen2_bias_tied_f16").path

    func testEigendecompositionRebuildsTheCovarianceOverAllTokens() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let sequences = [[5, 6, 7], [1, 2, 3, 4, 5]]
        let modules = try TrackedModule.select("model.layers.1.mlp.down_proj,model.layers.0.self_attn.q_proj", model: m)
        XCTAssertEqual(modules.map(\.hasBias), [true, false], "depth order: layer 0's q_proj (with bias) first")
        let factors = try EKFACFactors.fit(model: m, sequences: { body in
            for (i, s) in sequences.enumerated() { guard try body(i, s) else { return } }
        }, modules: modules, options: EKFACFactors.Options())
        XCTAssertEqual(factors.tokenCount, 8)
        XCTAssertEqual(factors.sequenceCount, 2)

        var inputs: [LinearID: [[Float]]] = [:]
        var hooks = ForwardHooks()
        hooks.linearTap = { id, view in
            if modules.contains(where: { $0.id == id }) { inputs[id, default: []] += (0..<view.rows).map { Array(view.row($0)) } }
        }
        for s in sequences { _ = try m.forward(TokenBatch(s), hooks: hooks, logits: .none) }

        for f in factors.modules {
            let rows = inputs[f.module.id]!.map { f.module.hasBias ? $0 + [1] : $0 }
            XCTAssertEqual(rows.count, 8, "every real token counts, the last of each sequence too")
            let n = f.module.inputDimension
            XCTAssertEqual(rows[0].count, n)
            for i in stride(from: 0, to: n, by: 7) {
                for j in stride(from: 0, to: n, by: 5) {
                    let direct = rows.map { Double($0[i]) * Double($0[j]) }.reduce(0, +) / 8
                    var rebuilt = 0.0
                    for k in 0..<n { rebuilt += Double(f.qa[i * n + k]) * f.eigenvaluesA[k] * Double(f.qa[j * n + k]) }
                    XCTAssertEqual(rebuilt, direct, accuracy: 1e-4 * max(1, abs(direct)), "\(f.module.name) A[\(i), \(j)]")
                }
            }
        }
        XCTAssertEqual(try TrackedModule.select("mlp", model: m).count, 3 * m.config.layerCount)
        XCTAssertThrowsError(try TrackedModule.select("mlp,bogus", model: m))
    }
}
