import Foundation
import Lens
import Model
import XCTest

final class LogitLensTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/qwen2_bias_tied_f16").path

    func testLastLayerReproducesTheModelsLogits() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let out = try m.forward(TokenBatch([3, 1, 4, 1, 5]), logits: .all, captureResiduals: true)
        let lens = LogitLens.logits(model: m, residual: out.residuals.last!)
        XCTAssertEqual(lens.values, out.logits!.values, "the final norm must be applied exactly once")
        // An earlier layer reads differently.
        XCTAssertNotEqual(LogitLens.logits(model: m, residual: out.residuals[1]).values, out.logits!.values)
    }

    func testTopK() {
        let v: [Float] = [0.5, 3, -1, 3, 2]
        let top = v.withUnsafeBufferPointer { LogitLens.topK($0, k: 3) }
        XCTAssertEqual(top.map(\.id), [1, 3, 4])
        XCTAssertEqual(top.map(\.score), [3, 3, 2])
    }
}
