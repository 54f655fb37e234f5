import Corpus
import Foundation
import Model

/// Accuracy of a policy on held-out problems: greedy, and over k samples at the sampling
/// temperature, mean@k (correct samples ÷ k, averaged over problems) and pass@k (problems
/// with at least one correct sample).
public struct PolicyEvaluation: Sendable {
    public var problemIDs: [String]
    public var k: Int
    public var greedyTexts: [String]
    public var greedyCorrect: [Bool]
    /// [problem][sample]
    public var sampleTexts: [[String]]
    public var sampleCorrect: [[Bool]]

    public var greedyAccuracy: Double { fraction(greedyCorrect) }
    public var meanAtK: Double {
        sampleCorrect.isEmpty ? 0 : sampleCorrect.reduce(0) { $0 + fraction($1) } / Double(sampleCorrect.count)
    }
    public var passAtK: Double { fraction(sampleCorrect.map { $0.contains(true) }) }

    /// Whether each completion states a final answer the checker reads (`AnswerChecker.extract`:
    /// a `\boxed{}`, "#### N" or "The answer is N"), right or wrong: a gain in accuracy can be a
    /// gain in format (answers given) or in correctness (right among those given).
    public var greedyAnswered: [Bool] { greedyTexts.map(Self.givesAnswer) }
    /// [problem][sample]
    public var sampleAnswered: [[Bool]] { sampleTexts.map { $0.map(Self.givesAnswer) } }
    public var greedyFormatRate: Double { fraction(greedyAnswered) }
    public var sampleFormatRate: Double { fraction(Array(sampleAnswered.joined())) }
    /// Correct among the completions that give an answer (0 when none does).
    public var greedyAnsweredAccuracy: Double { Self.accuracy(greedyCorrect, among: greedyAnswered) }
    public var sampleAnsweredAccuracy: Double {
        Self.accuracy(Array(sampleCorrect.joined()), among: Array(sampleAnswered.joined()))
    }

    static func givesAnswer(_ text: String) -> Bool { AnswerChecker.extract(text) != nil }

    static func accuracy(_ correct: [Bool], among answered: [Bool]) -> Double {
        let given = zip(correct, answered).filter { $0.1 }
        return given.isEmpty ? 0 : Double(given.filter { $0.0 }.count) / Double(given.count)
    }

    private func fraction(_ x: [Bool]) -> Double { x.isEmpty ? 0 : Double(x.filter { $0 }.count) / Double(x.count) }

    /// Samples are seeded from `seed` and the problem's position only, so evaluations at
    /// different steps compare the same draws.
    public static func run(sampler: RolloutSampler, problems: [Query], hooks: ForwardHooks, k: Int, seed: UInt64) throws -> PolicyEvaluation {
        let indices = Array(problems.indices)
        let greedy = try sampler.sample(problems, indices: indices, samples: 1, hooks: hooks, seed: seed, sampling: .greedy)
        let sampled = k > 0 ? try sampler.sample(problems, indices: indices, samples: k, hooks: hooks, seed: seed) : []
        var texts = [[String]](repeating: [], count: problems.count), correct = [[Bool]](repeating: [], count: problems.count)
        for r in sampled { texts[r.problem].append(r.text); correct[r.problem].append(r.correct) }
        return PolicyEvaluation(problemIDs: problems.map(\.id), k: k, greedyTexts: greedy.map(\.text),
                                greedyCorrect: greedy.map(\.correct), sampleTexts: texts, sampleCorrect: correct)
    }
}
