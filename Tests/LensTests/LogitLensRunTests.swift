import Foundation
import Lens
import Model
import XCTest

/// The logit lens against a direct float64 computation from the residual stream.
final class LogitLensRunTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/qwen2_bias_tied_f16").path

    func testAgainstDirectComputation() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let tokens = [5, 17, 99, 3, 42, 8]
        let target = 17
        let lens = try LogitLensRun.run(model: m, tokens: tokens, options: LogitLensOptions(k: 4, target: target))
        let out = try m.forward(TokenBatch(tokens), logits: .all, captureResiduals: true)
        let V = m.config.vocabSize
        XCTAssertEqual(lens.siteCount, m.config.layerCount + 1)
        func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
            let mx = Double(row.max()!)
            let z = row.reduce(0.0) { $0 + exp(Double($1) - mx) }
            return row.map { Double($0) - mx - log(z) }
        }
        let finalLogits = out.logits!.values
        for s in 0..<lens.siteCount {
            let logits = LogitLens.logits(model: m, residual: out.residuals[s]).values
            if s == lens.siteCount - 1 { XCTAssertEqual(logits, finalLogits, "the last index is the model's own output, norm applied once") }
            for t in 0..<tokens.count {
                let lp = logSoftmax(logits[(t * V)..<((t + 1) * V)])
                let lf = logSoftmax(finalLogits[(t * V)..<((t + 1) * V)])
                let order = lp.indices.sorted { lp[$0] > lp[$1] }
                XCTAssertEqual(lens.topIDs[s][t], Array(order.prefix(4)), "layer \(s) position \(t)")
                for (id, p) in zip(lens.topIDs[s][t], lens.topProbabilities[s][t]) { XCTAssertEqual(Double(p), exp(lp[id]), accuracy: 1e-5) }
                let entropy = -lp.reduce(0.0) { $0 + exp($1) * $1 }
                XCTAssertEqual(Double(lens.entropy[s][t]), entropy, accuracy: 1e-4)
                let kl = zip(lf, lp).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
                XCTAssertEqual(Double(lens.klToFinal[s][t]), kl, accuracy: 1e-4)
                XCTAssertEqual(Double(lens.targetLogProbability![s][t]), lp[target], accuracy: 1e-5)
                XCTAssertEqual(lens.targetRank![s][t], lp.filter { $0 > lp[target] }.count)
                if s == lens.siteCount - 1 { XCTAssertEqual(lens.klToFinal[s][t], 0, accuracy: 1e-6) }
            }
        }
    }
}
