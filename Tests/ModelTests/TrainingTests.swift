import Foundation
import Model
import XCTest

final class TrainingTests: XCTestCase {
    let config = ModelConfig(architecture: .llama, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
                             kvHeadCount: 2, vocabSize: 50, rmsNormEps: 1e-5, tieWordEmbeddings: true)

    /// A stream with structure to learn: counting modulo 20 with a stride.
    func stream() -> [Int] { (0..<4000).map { ($0 * 3) % 20 + ($0 / 200) % 2 * 20 } }

    func trainer(seed: UInt64 = 1, steps: Int = 40) throws -> LanguageModelTrainer {
        let model = TransformerModel(config: config, weights: .random(config: config, seed: seed))
        let options = TrainingOptions(steps: steps, batchSize: 4, accumulation: 2, sequenceLength: 32,
                                      learningRate: 1e-2, warmupSteps: 5, seed: 7)
        return LanguageModelTrainer(model: model, data: try WindowedTokens(stream: stream(), length: 32), options: options)
    }

    func testLossFallsAndTrainingIsDeterministic() throws {
        let a = try trainer(), b = try trainer()
        var first = 0.0, last = 0.0
        for i in 0..<40 {
            let ra = try a.step(), rb = try b.step()
            XCTAssertEqual(ra.loss, rb.loss, "step \(i) differs between identical runs")
            if i == 0 { first = ra.loss }
            last = ra.loss
        }
        XCTAssertEqual(first, log(50), accuracy: 0.5, "a fresh model predicts about uniformly")
        XCTAssertLessThan(last, first * 0.5, "loss should fall: \(first) → \(last)")
        XCTAssertEqual(a.model.weights.blocks[1].down.weight.values, b.model.weights.blocks[1].down.weight.values)
    }

    func testDocumentsArePackedInANewOrderEachEpoch() throws {
        let documents = (0..<30).map { d in [Int](repeating: d, count: 3 + d % 5) + [99] }
        let data = try WindowedTokens(documents: documents, length: 8)
        XCTAssertEqual(data.windowCount, documents.joined().count / 8)
        let e0 = data.epoch(0, seed: 3), e1 = data.epoch(1, seed: 3)
        XCTAssertEqual(e0.map(Array.init), data.epoch(0, seed: 3).map(Array.init), "same seed and epoch, same sequences")
        XCTAssertNotEqual(e0.map(Array.init), e1.map(Array.init))
        for epoch in [e0, e1] {
            let tokens = epoch.flatMap { $0 }
            XCTAssertEqual(tokens.count, data.windowCount * 8)
            // Documents stay whole: each run of one id is a full document followed by its separator.
            var i = 0
            while i < tokens.count {
                let d = tokens[i], run = tokens[i...].prefix { $0 == d }.count
                if i > 0 && i + run < tokens.count { XCTAssertEqual(run, 3 + d % 5); XCTAssertEqual(tokens[i + run], 99) }
                i += run + 1
            }
        }
    }

    func testResumedRunMatchesUninterruptedRun() throws {
        let straight = try trainer()
        for _ in 0..<10 { _ = try straight.step() }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try trainer()
        for _ in 0..<5 { _ = try first.step() }
        try first.saveCheckpoint(to: dir)
        let resumed = try trainer(seed: 99)   // different initial weights: all must come from the checkpoint
        XCTAssertEqual(try resumed.restoreCheckpoint(from: dir), 5)
        for _ in 0..<5 { _ = try resumed.step() }
        for (a, b) in zip(straight.model.weights.named, resumed.model.weights.named) {
            let (name, a, b) = (a.name, a.tensor, b.tensor)
            XCTAssertEqual(a.values, b.values, "\(name) differs after resuming")
        }
    }

    func testSavedModelLoadsBack() throws {
        let t = try trainer(steps: 3)
        for _ in 0..<3 { _ = try t.step() }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try t.model.save(to: dir + "/f32")
        try t.model.save(to: dir + "/bf16", storage: .bf16)
        let batch = TokenBatch([1, 5, 9, 13, 17])
        let original = try t.model.forward(batch).logits!.values
        XCTAssertEqual(try TransformerModel.load(directory: dir + "/f32").forward(batch).logits!.values, original)
        let bf16 = try TransformerModel.load(directory: dir + "/bf16")
        XCTAssertEqual(bf16.storedDTypes, ["BF16"])
        XCTAssertTrue(bf16.isTied)
        let diff = zip(try bf16.forward(batch).logits!.values, original).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 0.05 * original.map(abs).max()!, "bf16 rounding only")
    }

    func testScheduleAndBFloat16Rounding() {
        let s = LearningRateSchedule(peak: 1, warmup: 10, total: 110, minRatio: 0.1)
        XCTAssertEqual(s.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 60), 0.55, accuracy: 1e-3)
        XCTAssertEqual(s.rate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(1.0), 0x3F80)
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80, "ties to even")
        XCTAssertEqual(SafeTensorsWriter.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82, "ties to even")
    }
}
