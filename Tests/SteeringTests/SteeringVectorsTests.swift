import Foundation
import Model
import Steering
import XCTest

final class SteeringVectorsTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/llama_gqa_llama3rope").path

    func testVectorsAreAddedAfterEachBlock() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let batch = TokenBatch([9, 8, 7, 6])
        let base = try m.forward(batch, logits: .all, captureResiduals: true)

        let zero = SteeringVectors(zerosFor: m.config)
        XCTAssertEqual(try m.forward(batch, hooks: try zero.hooks(for: m.config), logits: .all).logits!.values,
                       base.logits!.values, "zero vectors change nothing")

        let s = SteeringVectors(zerosFor: m.config)
        s.vectors[m.config.layerCount - 1] = (0..<m.config.hiddenSize).map { Float($0 % 5) * 0.1 }
        let steered = try m.forward(batch, hooks: try s.hooks(for: m.config), logits: .all, captureResiduals: true)
        // The last block's output moves by exactly s_{L-1}; earlier residuals are untouched.
        let d = m.config.hiddenSize
        for r in 0..<4 {
            for i in 0..<d {
                XCTAssertEqual(steered.residuals.last!.values[r * d + i],
                               base.residuals.last!.values[r * d + i] + s.vectors.last![i], accuracy: 1e-6)
            }
        }
        XCTAssertEqual(steered.residuals[1].values, base.residuals[1].values)
    }

    func testWrongSizesAreRefused() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        XCTAssertThrowsError(try SteeringVectors(vectors: [[1, 2]]).hooks(for: m.config)) {
            XCTAssertTrue("\($0)".contains("cover 1 blocks, the model has \(m.config.layerCount)"))
        }
        let s = SteeringVectors(zerosFor: m.config)
        s.vectors[0] = [1, 2, 3]
        XCTAssertThrowsError(try s.hooks(for: m.config)) { XCTAssertTrue("\($0)".contains("has 3 values")) }
    }
}
