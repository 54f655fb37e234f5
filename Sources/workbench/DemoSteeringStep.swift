import CLICommon
import Corpus
import Formats
import Foundation
import Lens
import Model
import Steering
import Tokenizers

/// The demo's steering step: an RL run of steering vectors on the word problems, sized to
/// show a measured effect in about a minute (methods.md §1 at a learning rate scaled up for
/// this model: docs/reproduction-steering.md found 1e-3 moves nothing here), its reward curve,
/// the held-out accuracy before and after with paired standard errors, and the vectors through
/// the lens.
struct DemoSteeringStep {
    let model: TransformerModel
    let tokenizer: Tokenizer
    let out: String

    func run(problems: String, heldOut: String) throws -> [(String, String)] {
        let runDirectory = (out as NSString).appendingPathComponent("steer")
        try? FileManager.default.removeItem(atPath: runDirectory)
        var settings = RLSettings()
        settings.steps = 50
        settings.promptsPerStep = 16
        settings.groupSize = 8
        settings.learningRate = 5e-2
        settings.sampling.maxNewTokens = 48
        // The held-out problems, as a file the run evaluates (before the first step and after the last).
        let test = Array(try TrainingRun.loadProblems(heldOut).prefix(100))
        let testPath = (out as NSString).appendingPathComponent("heldout.jsonl")
        let lines = try test.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try writeFileAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: testPath)
        let k = 8
        let run = TrainingRun(method: .vectors, layers: nil, objectiveName: "rloo", objective: PolicyObjective.preset("rloo")!,
                              settings: settings, template: .raw, rewards: [ExactAnswerReward()], problemsPath: problems,
                              evalPath: testPath, evalEvery: 0, evalSamples: k, checkpointEvery: 0, out: runDirectory)
        print("  \(settings.steps) steps × \(settings.promptsPerStep) word problems × \(settings.groupSize) samples, "
              + "RLOO, ±1 for the right \\boxed{} answer, lr \(settings.learningRate); \(test.count) held-out problems")
        var evaluations: [PolicyEvaluation] = []
        let history = try run.run(model: model, tokenizer: tokenizer) { event in
            if case .evaluated(_, let evaluation) = event { evaluations.append(evaluation) }
        }
        let rewards = history.map(\.rewardMean)
        print("  reward by step  " + sparkline(rewards) + String(format: "  (first 10 steps %+.2f, last 10 %+.2f)",
              mean(rewards.prefix(10)), mean(rewards.suffix(10))))
        if let before = evaluations.first, let after = evaluations.last, evaluations.count > 1 {
            print(effect(before, after))
        }

        let vectorsPath = (runDirectory as NSString).appendingPathComponent("vectors.bin")
        let rows = try VectorFile.load(vectorsPath, config: model.config).rows
        let inspection = VectorInspection.inspect(rows, model: model, k: 6, projections: [.raw])
        let lensPath = (out as NSString).appendingPathComponent("steer-lens.h5")
        try inspection.write(to: lensPath, model: model, source: vectorsPath)
        print("  the trained vectors through the lens (W_U s_l, no final norm):")
        print(LensText.inspection(inspection, perLayer: true, show: { shown($0, tokenizer) })
            .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        return [
            (runDirectory, "the RL run: vectors.bin [\(model.config.layerCount)·\(model.config.hiddenSize)], training.h5 (per-step metrics), eval.h5 (held-out, before and after), config.json"),
            (lensPath, "the vectors' readings: /raw/promoted_ids, /norms, /cosines"),
        ]
    }

    /// Before → after on the same problems and draws, each change ± its paired standard error
    /// (the standard deviation of the per-problem differences over √P), and one line saying
    /// what the change of mean@k is: an effect when it exceeds two standard errors, noise otherwise.
    func effect(_ before: PolicyEvaluation, _ after: PolicyEvaluation) -> String {
        func perProblem(_ e: PolicyEvaluation, _ metric: String) -> [Double] {
            switch metric {
            case "greedy": return e.greedyCorrect.map { $0 ? 1 : 0 }
            case "mean": return e.sampleCorrect.map { Double($0.filter { $0 }.count) / Double(max($0.count, 1)) }
            default: return e.sampleCorrect.map { $0.contains(true) ? 1 : 0 }
            }
        }
        var parts: [String] = [], verdicts: [(name: String, change: Double, se: Double)] = []
        for (metric, name) in [("greedy", "greedy"), ("mean", "mean@\(before.k)"), ("pass", "pass@\(before.k)")] {
            let a = perProblem(before, metric), b = perProblem(after, metric)
            let d = zip(b, a).map { $0 - $1 }
            let change = mean(d[...]), n = Double(d.count)
            let sd = (d.map { ($0 - change) * ($0 - change) }.reduce(0, +) / max(n - 1, 1)).squareRoot()
            let se = sd / n.squareRoot()
            parts.append(String(format: "%@ %.3f → %.3f (%+.1f ± %.1f points)", name, mean(a[...]), mean(b[...]), 100 * change, 100 * se))
            verdicts.append((name, change, se))
        }
        // The verdict is about mean@k, the quantity the reward trains (the accuracy of sampled answers).
        let (name, change, se) = verdicts[1]
        let ratio = abs(change) / max(se, 1e-9)
        let others = [verdicts[0], verdicts[2]].map { abs($0.1) > 2 * $0.2 ? "\($0.0) changed too" : "\($0.0) stayed within its noise" }
        let verdict = ratio >= 2
            ? String(format: "effect: RL %@ %@ (how often a sampled answer is right) by %.1f points, %.1f paired standard errors; ",
                     change > 0 ? "raised" : "lowered", name, 100 * abs(change), ratio) + others.joined(separator: ", ")
            : String(format: "effect: no change of %@ beyond noise (%+.1f points, %.1f paired standard errors)", name, 100 * change, ratio)
        return "  \(before.problemIDs.count) held-out problems, same draws before and after (± paired standard error):\n    "
            + parts.joined(separator: "\n    ") + "\n  " + verdict
    }

    func mean<C: Collection>(_ values: C) -> Double where C.Element == Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// ▁▂▃▄▅▆▇█ scaled to the values' range.
    func sparkline(_ values: [Double]) -> String {
        let marks = Array("▁▂▃▄▅▆▇█")
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return String(repeating: "▄", count: values.count) }
        return String(values.map { marks[min(7, Int((($0 - lo) / (hi - lo)) * 7.999))] })
    }
}
