import CLICommon
import Corpus
import Formats
import Foundation
import Lens
import Model
import Steering
import Tokenizers

/// The demo's steering step: a short RL run of steering vectors on the word problems
/// (methods.md §1 with a higher learning rate, so that a few steps show), its reward curve,
/// the accuracy before and after on held-out problems, and the vectors through the lens.
struct DemoSteeringStep {
    let model: TransformerModel
    let tokenizer: Tokenizer
    let out: String

    func run(problems: String, heldOut: String) throws -> [(String, String)] {
        let runDirectory = (out as NSString).appendingPathComponent("steer")
        try? FileManager.default.removeItem(atPath: runDirectory)
        var settings = RLSettings()
        settings.steps = 12
        settings.promptsPerStep = 8
        settings.groupSize = 8
        settings.learningRate = 1e-2
        settings.sampling.maxNewTokens = 48
        let objective = PolicyObjective.preset("rloo")!
        let run = TrainingRun(method: .vectors, layers: nil, objectiveName: "rloo", objective: objective, settings: settings,
                              template: .raw, rewards: [ExactAnswerReward()], problemsPath: problems, evalPath: nil,
                              evalEvery: 0, evalSamples: 0, checkpointEvery: 0, out: runDirectory)
        let test = Array(try TrainingRun.loadProblems(heldOut).prefix(40))
        let sampler = RolloutSampler(model: model, tokenizer: tokenizer, template: .raw, rewards: [ExactAnswerReward()],
                                     settings: settings.sampling)
        let before = try PolicyEvaluation.run(sampler: sampler, problems: test, hooks: ForwardHooks(), k: 4, seed: 0)
        print("  \(settings.steps) steps × \(settings.promptsPerStep) word problems × \(settings.groupSize) samples, "
              + "RLOO, ±1 for the right \\boxed{} answer, lr \(settings.learningRate)")
        let history = try run.run(model: model, tokenizer: tokenizer)
        let rewards = history.map(\.rewardMean)
        print("  reward by step  " + sparkline(rewards) + String(format: "  (%+.2f → %+.2f)", rewards.first ?? 0, rewards.last ?? 0))
        let applied = try AppliedAdapter.load(runDirectory, model: model)
        let after = try PolicyEvaluation.run(sampler: sampler, problems: test, hooks: applied.hooks, k: 4, seed: 0)
        print(String(format: "  %d held-out problems: greedy %.2f → %.2f, mean@4 %.2f → %.2f",
                     test.count, before.greedyAccuracy, after.greedyAccuracy, before.meanAtK, after.meanAtK))

        let vectorsPath = (runDirectory as NSString).appendingPathComponent("vectors.bin")
        let rows = try VectorFile.load(vectorsPath, config: model.config).rows
        let inspection = VectorInspection.inspect(rows, model: model, k: 6, projections: [.raw])
        let lensPath = (out as NSString).appendingPathComponent("steer-lens.h5")
        try inspection.write(to: lensPath, model: model, source: vectorsPath)
        print("  the trained vectors through the lens (W_U s_l, no final norm):")
        print(LensText.inspection(inspection, perLayer: true, show: { shown($0, tokenizer) })
            .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        return [
            (runDirectory, "the RL run: vectors.bin [\(model.config.layerCount)·\(model.config.hiddenSize)], training.h5 (per-step metrics), config.json"),
            (lensPath, "the vectors' readings: /raw/promoted_ids, /norms, /cosines"),
        ]
    }

    /// ▁▂▃▄▅▆▇█ scaled to the values' range.
    func sparkline(_ values: [Double]) -> String {
        let marks = Array("▁▂▃▄▅▆▇█")
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return String(repeating: "▄", count: values.count) }
        return String(values.map { marks[min(7, Int((($0 - lo) / (hi - lo)) * 7.999))] })
    }
}
