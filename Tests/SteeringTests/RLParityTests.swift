import Foundation
import Model
import Steering
import XCTest

/// The policy-gradient objective against PyTorch (scripts/make_rl_fixtures.py): for fixed
/// sequences, rewards and π_old on a fixture checkpoint with steering vectors attached, the
/// loss and dL/ds under every advantage estimator × std scaling × loss reduction, with ratio
/// clipping active, without and with the k3 KL term. Tolerances: loss 1e-4 relative; gradient
/// max |Δ| ≤ 1e-4 × max |reference|.
final class RLParityTests: XCTestCase {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let modelPath = here.deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/llama_gqa_llama3rope").path
    static let fixturePath = here.appendingPathComponent("Fixtures/rl_reference.safetensors").path

    struct Setup {
        var model: TransformerModel
        var reference: SafeTensorsFile
        var vectors: [[Float]]
        var prompts: [[Int]]
        var completions: [[Int]]
        var rewards: [Double]
        var old: [[Double]]
        var current: [[Double]]
    }

    func setup() throws -> Setup {
        let model = try TransformerModel.load(directory: Self.modelPath)
        let ref = try SafeTensorsFile(path: Self.fixturePath)
        let (L, d) = (model.config.layerCount, model.config.hiddenSize)
        let v = try ref.floatTensor("vectors").values
        func split<T>(_ flat: [T], _ lengths: [Int]) -> [[T]] {
            var out: [[T]] = [], i = 0
            for n in lengths { out.append(Array(flat[i..<(i + n)])); i += n }
            return out
        }
        let promptLengths = try ref.intValues("prompt_lengths"), completionLengths = try ref.intValues("completion_lengths")
        return Setup(model: model, reference: ref, vectors: (0..<L).map { Array(v[($0 * d)..<(($0 + 1) * d)]) },
                     prompts: split(try ref.intValues("prompts"), promptLengths),
                     completions: split(try ref.intValues("completions"), completionLengths),
                     rewards: try ref.floatTensor("rewards").values.map(Double.init),
                     old: split(try ref.floatTensor("old_logprobs").values.map(Double.init), completionLengths),
                     current: split(try ref.floatTensor("logprobs").values.map(Double.init), completionLengths))
    }

    func testLossAndGradientsMatchPyTorch() throws {
        let s = try setup()
        var checked = 0
        for advantage in AdvantageEstimator.allCases {
            for scaling in AdvantageScaling.allCases {
                for reduction in LossReduction.allCases {
                    for kl in [0, 1] {
                        let objective = PolicyObjective(advantage: advantage, scaling: scaling, reduction: reduction,
                                                        clipLow: 0.2, clipHigh: 0.28, klCoefficient: kl == 1 ? 0.05 : 0)
                        let name = "\(advantage.rawValue).\(scaling.rawValue).\(reduction.rawValue).kl\(kl)"
                        let vectors = SteeringVectors(vectors: s.vectors)
                        let batch = RolloutBatch(prompts: s.prompts, completions: s.completions,
                                                 advantages: objective.advantages(rewards: s.rewards, groupSize: 3),
                                                 oldLogProbabilities: s.old)
                        let report = try PolicyGradient.accumulate(model: s.model, trainable: vectors, referenceModel: s.model,
                                                                   batch: batch, objective: objective, microBatchSize: 6,
                                                                   maxCompletionLength: 8)
                        let refLoss = Double(try s.reference.floatTensor("loss." + name).values[0])
                        XCTAssertEqual(report.loss, refLoss, accuracy: 1e-4 * max(abs(refLoss), 1e-3), name)
                        let refGrad = try s.reference.floatTensor("grad." + name).values
                        let mine = vectors.parameters.flatMap(\.gradient.values)
                        let bound = 1e-4 * max(refGrad.map(abs).max()!, 1e-8)
                        let diff = zip(mine, refGrad).map { abs($0 - $1) }.max()!
                        XCTAssertLessThanOrEqual(diff, bound, "\(name): max |Δ| \(diff) > \(bound)")
                        if name == "rloo.none.dapo.kl0" {
                            XCTAssertGreaterThan(report.clippedFraction, 0, "clipping must be active in the fixture")
                        }
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, 48)
        // The current log-probabilities agree with PyTorch's.
        let report = try PolicyGradient.accumulate(model: s.model, trainable: SteeringVectors(vectors: s.vectors), referenceModel: nil,
                                                   batch: RolloutBatch(prompts: s.prompts, completions: s.completions,
                                                                       advantages: [Double](repeating: 0, count: 6)),
                                                   objective: PolicyObjective.preset("rloo")!, microBatchSize: 4, maxCompletionLength: 8)
        for (mine, theirs) in zip(report.logProbabilities.joined(), s.current.joined()) {
            XCTAssertEqual(mine, theirs, accuracy: 1e-4)
        }
    }

    /// Token-normalised reductions do not depend on how the step is cut into micro-batches
    /// (bnpo with equal token counts per micro-batch equals dapo).
    func testMicroBatchingLeavesTheLossUnchanged() throws {
        let s = try setup()
        for reduction in [LossReduction.dapo, .grpo, .drGrpo] {
            let objective = PolicyObjective(advantage: .rloo, scaling: .none, reduction: reduction, clipLow: 0.2, clipHigh: 0.28,
                                            klCoefficient: 0.05)
            var results: [(Double, [Float])] = []
            for micro in [6, 4, 1] {
                let vectors = SteeringVectors(vectors: s.vectors)
                let report = try PolicyGradient.accumulate(
                    model: s.model, trainable: vectors, referenceModel: s.model,
                    batch: RolloutBatch(prompts: s.prompts, completions: s.completions,
                                        advantages: objective.advantages(rewards: s.rewards, groupSize: 3), oldLogProbabilities: s.old),
                    objective: objective, microBatchSize: micro, maxCompletionLength: 8)
                results.append((report.loss, vectors.parameters.flatMap(\.gradient.values)))
            }
            for (loss, grad) in results.dropFirst() {
                XCTAssertEqual(loss, results[0].0, accuracy: 1e-4 * abs(results[0].0), "\(reduction)")
                let scale = results[0].1.map(abs).max()!
                XCTAssertLessThan(zip(grad, results[0].1).map { abs($0 - $1) }.max()!, 1e-4 * scale, "\(reduction)")
            }
        }
    }

    /// With β = 0 the sequences of a group whose rewards are all equal (advantage 0) can be left
    /// out of the training pass: the loss and the gradient over the others, normalised by the
    /// whole step, are those over every sequence, also with ratios ≠ 1 (a later iteration).
    func testLeavingOutZeroAdvantagesKeepsTheUpdate() throws {
        let s = try setup()
        var rewards = s.rewards
        for i in 0..<3 { rewards[i] = 1 }   // the first group of 3 has no spread
        for reduction in [LossReduction.dapo, .grpo, .drGrpo] {
            for advantage in AdvantageEstimator.allCases {
                let objective = PolicyObjective(advantage: advantage, scaling: .group, reduction: reduction, clipLow: 0.2, clipHigh: 0.28)
                XCTAssertTrue(objective.zeroAdvantageCarriesNoGradient)
                let full = RolloutBatch(prompts: s.prompts, completions: s.completions,
                                        advantages: objective.advantages(rewards: rewards, groupSize: 3), oldLogProbabilities: s.old)
                let kept = full.advantages.indices.filter { full.advantages[$0] != 0 }
                XCTAssertEqual(kept, [3, 4, 5])
                var results: [(Double, [Float])] = []
                for batch in [full, full.keeping(kept)] {
                    let vectors = SteeringVectors(vectors: s.vectors)
                    let report = try PolicyGradient.accumulate(model: s.model, trainable: vectors, referenceModel: nil, batch: batch,
                                                               objective: objective, microBatchSize: 2, maxCompletionLength: 8)
                    results.append((report.loss, vectors.parameters.flatMap(\.gradient.values)))
                }
                let name = "\(advantage.rawValue).\(reduction.rawValue)"
                XCTAssertEqual(results[1].0, results[0].0, accuracy: 1e-4 * max(abs(results[0].0), 1e-3), name)   // float32 rows packed differently
                let scale = results[0].1.map(abs).max()!
                XCTAssertGreaterThan(scale, 0, name)
                XCTAssertLessThan(zip(results[1].1, results[0].1).map { abs($0 - $1) }.max()!, 1e-5 * scale, name)
            }
        }
        XCTAssertFalse(PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo, klCoefficient: 0.05).zeroAdvantageCarriesNoGradient,
                       "the KL term has a gradient at every token")
        XCTAssertFalse(PolicyObjective.preset("bnpo")!.zeroAdvantageCarriesNoGradient, "bnpo normalises by micro-batch")
    }

    /// The log-probabilities the sampling pass records (cached decoding, few-row kernels) are
    /// those the training pass computes for the same tokens.
    func testSamplingLogProbabilitiesMatchTraining() throws {
        let s = try setup()
        let vectors = SteeringVectors(vectors: s.vectors)
        let hooks = try vectors.hooks(for: s.model.config)
        let prompts = Array(s.prompts.prefix(4))
        let generated = try s.model.generate(prompts: prompts, options: GenerationOptions(
            maxNewTokens: 6, sampling: SamplingOptions(temperature: 1), sequenceSeeds: [1, 2, 3, 4], returnLogProbabilities: true),
            hooks: hooks)
        let report = try PolicyGradient.accumulate(model: s.model, trainable: vectors, referenceModel: nil,
                                                   batch: RolloutBatch(prompts: prompts, completions: generated.tokens,
                                                                       advantages: [0, 0, 0, 0]),
                                                   objective: PolicyObjective.preset("dapo")!, microBatchSize: 4, maxCompletionLength: 6)
        for (sampled, trained) in zip(generated.logProbabilities, report.logProbabilities) {
            XCTAssertEqual(sampled.count, trained.count)
            for (a, b) in zip(sampled, trained) { XCTAssertEqual(Double(a), b, accuracy: 1e-4) }
        }
    }
}
