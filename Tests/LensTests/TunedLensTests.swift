import Foundation
import Lens
import Model
import XCTest
import Corpus
import Tokenizers

final class TunedLensTests: XCTestCase {
    func testIdentityTranslatorsAreTheLogitLens() throws {
        let m = try LensParityTests.model("llama_gqa_llama3rope")
        let tokens = [3, 14, 15, 92, 65]
        let options = LogitLensOptions(k: 3, target: 7)
        let plain = try LogitLensRun.run(model: m, tokens: tokens, options: options)
        let tuned = try LogitLensRun.run(model: m, tokens: tokens, options: options, tunedLens: TunedLens(identityFor: m))
        XCTAssertEqual(plain.topIDs, tuned.topIDs)
        XCTAssertEqual(plain.klToFinal, tuned.klToFinal)
        var mid = options
        mid.siteKinds = [.mid, .post]
        XCTAssertThrowsError(try LogitLensRun.run(model: m, tokens: tokens, options: mid, tunedLens: TunedLens(identityFor: m)))
    }

    /// Training lowers the held-out KL at every layer below the last, and the file
    /// round-trips and is refused for another model.
    func testTrainingLowersHeldOutKL() throws {
        let m = try TransformerModel.load(directory: DefaultModel.directory)
        let tokenizer = try Tokenizer.load(modelDirectory: DefaultModel.directory)
        let texts = try DocumentStream(path: (DefaultModel.dataDirectory as NSString).appendingPathComponent("corpus-sample.jsonl")).all().map(\.text)
        var train: [Int] = [], heldOut: [Int] = []
        for (i, ids) in tokenizer.encodeBatch(texts).enumerated() {
            if i % 10 == 9 { heldOut += ids } else { train += ids }
        }
        var options = TunedLensTrainingOptions()
        options.steps = 40; options.batchSize = 4; options.learningRate = 3e-3; options.warmup = 5
        let (lens, losses) = try TunedLensTrainer.train(model: m, data: WindowedTokens(stream: train, length: 64), options: options)
        XCTAssertLessThan(losses.suffix(5).reduce(0, +), losses.prefix(5).reduce(0, +))
        let held = try WindowedTokens(stream: heldOut, length: 64)
        let windows = (0..<min(4, held.windowCount)).map { Array(held.window($0)) }
        let (logit, tuned) = try TunedLensTrainer.heldOutKL(model: m, lens: lens, windows: windows)
        let L = m.config.layerCount
        for r in 0..<L { XCTAssertLessThan(tuned[r], logit[r], "residual \(r)") }
        XCTAssertEqual(tuned[L], 0, accuracy: 1e-5)

        let dir = NSTemporaryDirectory() + "tuned-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tuned.h5"
        try lens.write(to: path, model: m, report: .init(logitLensKL: logit, tunedLensKL: tuned, trainingLoss: losses, heldOutTokens: 256))
        let loaded = try TunedLens(path: path, model: m)
        XCTAssertEqual(loaded.weights.map(\.values), lens.weights.map(\.values))
        XCTAssertEqual(loaded.biases.map(\.values), lens.biases.map(\.values))
        let other = try LensParityTests.model("llama_gqa_llama3rope")
        XCTAssertThrowsError(try TunedLens(path: path, model: other)) { error in
            XCTAssertTrue("\(error)".contains("tuned lens made for another model"), "\(error)")
        }
    }
}
