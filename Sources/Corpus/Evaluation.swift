import Foundation
import Model
import Tokenizers

/// Greedy evaluation of a pretrained model on the corpus's queries.
public struct PretrainEvaluation: Codable, Sendable {
    public struct Score: Codable, Sendable {
        public var correct: Int
        public var total: Int
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
        static let zero = Score(correct: 0, total: 0)
        mutating func add(_ ok: Bool) { total += 1; if ok { correct += 1 } }
    }
    /// Factual recall by number of documents stating the fact (1...5).
    public var recallByMentions: [Int: Score] = [:]
    /// Factual recall of the facts stated at least 3 times, by query task (attribute).
    public var recallMentionedAtLeast3ByTask: [String: Score] = [:]
    /// Step-by-step accuracy per reasoning task.
    public var reasoning: [String: Score] = [:]
    /// Accuracy on held-out word problems (the RL test set): the number in the last
    /// `\boxed{N}` of the greedy continuation equals the answer (`AnswerChecker`).
    public var wordProblems: Score?
    /// Examples of generations, for the record.
    public var samples: [String] = []

    public var recallMentionedAtLeast3: Score {
        recallByMentions.filter { $0.key >= 3 }.values.reduce(Score(correct: 0, total: 0)) {
            Score(correct: $0.correct + $1.correct, total: $0.total + $1.total)
        }
    }

    public static func run(model: TransformerModel, tokenizer: Tokenizer, factual: [Query],
                           reasoning: [Query], wordProblems: [Query] = [],
                           maxNewTokens: Int = 48,
                           progress: ((String) -> Void)? = nil) throws -> PretrainEvaluation {
        var result = PretrainEvaluation()
        let eos = Set(model.config.eosTokenIds)
        func generate(_ prompts: [String], maxNew: Int) throws -> [String] {
            var out: [String] = []
            for start in stride(from: 0, to: prompts.count, by: 16) {
                let chunk = Array(prompts[start..<min(prompts.count, start + 16)])
                let ids = chunk.map { tokenizer.encode($0) }
                let gen = try model.generate(prompts: ids, options: GenerationOptions(maxNewTokens: maxNew, stopTokens: eos))
                out += gen.tokens.map { tokenizer.decode($0, skipSpecialTokens: true) }
            }
            return out
        }
        let factTexts = try generate(factual.map(\.prompt), maxNew: 8)
        for (q, text) in zip(factual, factTexts) {
            let ok = text.trimmingCharacters(in: .whitespaces).hasPrefix(q.answer ?? "")
            let k = q.mentions ?? 0
            result.recallByMentions[k, default: .zero].add(ok)
            if k >= 3 { result.recallMentionedAtLeast3ByTask[q.task ?? "", default: .zero].add(ok) }
            if result.samples.count < 4 { result.samples.append(q.prompt + " →" + text) }
        }
        progress?("factual recall done (\(factual.count) queries)")
        let reasonTexts = try generate(reasoning.map(\.prompt), maxNew: maxNewTokens)
        for (q, text) in zip(reasoning, reasonTexts) {
            result.reasoning[q.task ?? "", default: .zero].add(AnswerChecker.answerIsPhrase(text) == q.answer)
            if result.samples.count < 8 && result.reasoning[q.task ?? ""]!.total == 1 { result.samples.append(q.prompt + " →" + text) }
        }
        progress?("reasoning done (\(reasoning.count) queries)")
        if !wordProblems.isEmpty {
            let texts = try generate(wordProblems.map(\.prompt), maxNew: maxNewTokens)
            let correct = zip(wordProblems, texts).filter { problem, text in AnswerChecker.lastBoxed(text).map { AnswerChecker.sameAnswer($0, problem.answer ?? "") } ?? false }.count
            result.wordProblems = Score(correct: correct, total: wordProblems.count)
            progress?("word problems done (\(wordProblems.count) problems)")
        }
        return result
    }
}
