import Corpus
import Foundation

/// Scores one completion of a problem. Conform to add a reward of your own; the trainer
/// sums the rewards it is given.
public protocol Reward: Sendable {
    /// A short name for logs and config.json.
    var name: String { get }
    func score(completion: String, problem: Query) -> Double
}

/// +1 (or `correct`) when the completion's final answer equals the problem's answer, else −1
/// (or `incorrect`): the answer is the last `\boxed{...}`, else "#### N", else "The answer is
/// N", compared as exact numbers by `AnswerChecker` (methods.md §1).
public struct ExactAnswerReward: Reward {
    public var correct: Double
    public var incorrect: Double
    public var name: String { "exact_answer(\(correct),\(incorrect))" }

    public init(correct: Double = 1, incorrect: Double = -1) { self.correct = correct; self.incorrect = incorrect }

    public func score(completion: String, problem: Query) -> Double {
        Self.isCorrect(completion: completion, answer: problem.answer ?? "") ? correct : incorrect
    }

    public static func isCorrect(completion: String, answer: String) -> Bool {
        AnswerChecker.extract(completion).map { AnswerChecker.sameAnswer($0, answer) } ?? false
    }
}

/// `bonus` when the completion states a final answer in a form the checker reads
/// (`\boxed{...}` by default), whatever its value; 0 otherwise.
public struct FormatReward: Reward {
    public var bonus: Double
    public var name: String { "format(\(bonus))" }
    public init(bonus: Double = 0.1) { self.bonus = bonus }
    public func score(completion: String, problem: Query) -> Double {
        AnswerChecker.lastBoxed(completion) != nil ? bonus : 0
    }
}
