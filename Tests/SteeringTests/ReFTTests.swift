import Foundation
import Model
import Steering
import XCTest

/// ReFT interventions against PyTorch (scripts/make_reft_fixtures.py): rank-2 interventions of
/// every kind on both blocks' outputs, first and last prompt positions untied, prompts of 3–8
/// tokens (the counts clamped) in left-padded micro-batches: loss and the gradients of R, W and
/// b under the SFT cross-entropy and the clipped policy-gradient loss with k3 (1e-4 relative /
/// 1e-4 × max |reference|). Also: central differences, orthonormality kept over many updates,
/// the positions chosen, and batched generation with mixed prompt lengths.
final class ReFTTests: XCTestCase {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = here.appendingPathComponent("Fixtures/reft")

    func setup() throws -> PolicyFixture {
        try PolicyFixture(reference: Self.fixtures.appendingPathComponent("reference.safetensors").path)
    }

    func interventions(_ kind: ReFTKind, _ model: TransformerModel) throws -> ReFTInterventions {
        try ReFTInterventions.load(Self.fixtures.appendingPathComponent(kind.rawValue + ".safetensors").path, config: model.config)
    }

    func assertMatches(_ reft: ReFTInterventions, loss: Double, _ s: PolicyFixture, _ prefix: String) throws {
        let refLoss = Double(try s.reference.floatTensor("\(prefix).loss").values[0])
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * abs(refLoss), prefix)
        XCTAssertEqual(reft.parameters.count, reft.settings.kind.hasSource ? 12 : 8)
        try s.assertGradients(reft.parameters, prefix)
    }

    func testGradientsMatchPyTorch() throws {
        let s = try setup()
        let objective = PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo, clipLow: 0.2, clipHigh: 0.28,
                                        klCoefficient: 0.05)
        for kind in ReFTKind.allCases {
            let sft = try interventions(kind, s.model)
            let pass = try SupervisedTrainer.accumulate(model: s.model, trainable: sft, examples: s.examples, microBatchSize: 4)
            try assertMatches(sft, loss: pass.loss, s, "\(kind.rawValue).sft")
            let rl = try interventions(kind, s.model)
            let report = try PolicyGradient.accumulate(
                model: s.model, trainable: rl, referenceModel: s.model,
                batch: RolloutBatch(prompts: s.prompts, completions: s.completions,
                                    advantages: objective.advantages(rewards: s.rewards, groupSize: 3), oldLogProbabilities: s.old),
                objective: objective, microBatchSize: 6, maxCompletionLength: 8)
            try assertMatches(rl, loss: report.loss, s, "\(kind.rawValue).rl")
        }
    }

    /// Central differences of the SFT loss along one entry of each of R, W and b (LoReFT: every
    /// path of the Jacobian at once).
    func testLoReFTAgainstFiniteDifferences() throws {
        let s = try setup()
        let reft = try interventions(.loreft, s.model)
        _ = try SupervisedTrainer.accumulate(model: s.model, trainable: reft, examples: s.examples, microBatchSize: 6)
        // Each pass accumulates into the gradients: keep the analytic ones first.
        let analytic = Dictionary(uniqueKeysWithValues: reft.parameters.map { ($0.name, $0.gradient.values) })
        for p in reft.parameters where p.name.hasPrefix("reft.1.first") || p.name.hasPrefix("reft.0.last") {
            let i = p.value.count / 3
            let h: Float = 5e-3
            let saved = p.value.data[i]
            var losses: [Double] = []
            for sign in [Float(1), -1] {
                p.value.mutableData[i] = saved + sign * h
                losses.append(try SupervisedTrainer.accumulate(model: s.model, trainable: reft, examples: s.examples, microBatchSize: 6).loss)
            }
            p.value.mutableData[i] = saved
            let numeric = (losses[0] - losses[1]) / Double(2 * h)
            XCTAssertEqual(Double(analytic[p.name]![i]), numeric, accuracy: 0.02 * abs(numeric) + 2e-5, p.name)
        }
    }

    /// Many large updates through the one loop: R's rows stay orthonormal, and training moves R.
    func testOrthonormalityIsKeptThroughTraining() throws {
        let s = try setup()
        let reft = try ReFTInterventions.initialise(ReFTSettings(kind: .loreft, layers: [0, 1], first: 2, last: 2, rank: 3, seed: 4),
                                                    config: s.model.config)
        XCTAssertLessThan(reft.orthonormalityError, 1e-6)
        let before = reft.parameters[0].value.values
        let loop = OptimizationLoop(trainable: reft, optimizer: AdamW(), schedule: .constant(0.05, warmup: 0), clipNorm: 0)
        for _ in 0..<60 {
            try loop.step { _ in try SupervisedTrainer.accumulate(model: s.model, trainable: reft, examples: s.examples, microBatchSize: 6).loss }
        }
        XCTAssertLessThan(reft.orthonormalityError, 1e-5)
        XCTAssertGreaterThan(zip(before, reft.parameters[0].value.values).map { abs($0 - $1) }.max()!, 0.05)
    }

    func testPositionsAndClamping() throws {
        XCTAssertTrue(try ReFTSettings.parsePositions("f7+l7") == (7, 7))
        XCTAssertTrue(try ReFTSettings.parsePositions("l1") == (0, 1))
        XCTAssertThrowsError(try ReFTSettings.parsePositions("x3"))
        // One sequence of n real tokens after 2 padding columns: which positions are chosen.
        func chosen(_ selection: RowSelection, prompt n: Int) -> [Int] {
            let length = n + 2
            let layout = RowLayout(batchSize: 1, length: length, isReal: (0..<length).map { $0 >= 2 },
                                   positions: (0..<length).map { max(0, $0 - 2) }, promptLengths: [n])
            return selection.rows(in: layout).map { $0 - 2 }
        }
        XCTAssertEqual(chosen(.promptEnds(first: 7, last: 7), prompt: 20), [0, 1, 2, 3, 4, 5, 6, 13, 14, 15, 16, 17, 18, 19])
        XCTAssertEqual(chosen(.promptEnds(first: 7, last: 7), prompt: 5), [0, 1, 2, 3, 4], "p = ⌊5/2⌋ = 2, s = ⌈5/2⌉ = 3")
        XCTAssertEqual(chosen(.promptEnds(first: 3, last: 0), prompt: 4), [0, 1], "p = min(3, ⌊4/2⌋)")
        XCTAssertEqual(chosen(.promptEnds(first: 0, last: 1), prompt: 1), [0])
    }

    /// Interventions act on prompt positions in the prefill only; a batch of prompts of
    /// different lengths generates what each prompt generates alone.
    func testBatchedGenerationWithMixedPromptLengths() throws {
        let s = try setup()
        let reft = try interventions(.loreft, s.model)
        let prompts = [s.prompts[0], s.prompts[5], s.prompts[2]]
        let options = GenerationOptions(maxNewTokens: 6, sampling: SamplingOptions(temperature: 0))
        let together = try s.model.generate(prompts: prompts, options: options, hooks: reft.hooks()).tokens
        for (i, p) in prompts.enumerated() {
            XCTAssertEqual(try s.model.generate(prompts: [p], options: options, hooks: reft.hooks()).tokens[0], together[i])
        }
        let plain = try s.model.generate(prompts: prompts, options: options).tokens
        XCTAssertNotEqual(plain, together, "the interventions change the generations")
    }

    /// Composition: rows 0–1 trained first, then rows 2–3 from that start (--init): the second
    /// training leaves the first half as it was (no weight decay: decoupled decay would shrink
    /// rows without gradient) and keeps all four rows orthonormal.
    func testSubspaceTrainingLeavesTheOtherHalf() throws {
        let s = try setup()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reft-subspace-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func train(_ reft: ReFTInterventions) throws {
            let loop = OptimizationLoop(trainable: reft, optimizer: AdamW(weightDecay: 0), schedule: .constant(0.02, warmup: 0), clipNorm: 0)
            for _ in 0..<10 {
                try loop.step { _ in try SupervisedTrainer.accumulate(model: s.model, trainable: reft, examples: s.examples, microBatchSize: 6).loss }
            }
        }
        let first = try ReFTInterventions.initialise(ReFTSettings(kind: .loreft, layers: [0], first: 2, last: 2, rank: 4, subspace: 0..<2),
                                                     config: s.model.config)
        try train(first)
        try first.save(to: dir + "/" + ReFTInterventions.runFileName)
        let second = try ReFTInterventions.initialise(ReFTSettings(kind: .loreft, layers: [0], first: 2, last: 2, rank: 4, seed: 9,
                                                                   subspace: 2..<4, initialisedFrom: dir), config: s.model.config)
        let start = second.parameters.map(\.value.values)
        try train(second)
        XCTAssertLessThan(second.orthonormalityError, 1e-5)
        for (i, p) in second.parameters.enumerated() {
            let d = p.value.shape.count == 2 ? p.value.shape[1] : 1
            let (lower, upper) = (0..<(2 * d), (2 * d)..<p.value.count)
            XCTAssertLessThan(zip(p.value.values[lower], first.parameters[i].value.values[lower]).map { abs($0 - $1) }.max()!, 1e-5, p.name)
            XCTAssertGreaterThan(zip(p.value.values[upper], start[i][upper]).map { abs($0 - $1) }.max()!, 1e-3, p.name)
        }
    }
}
