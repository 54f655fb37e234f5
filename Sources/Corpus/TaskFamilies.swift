import Foundation
import Model

/// Short-answer tasks for RL on a small real instruct model (SmolLM2-135M-Instruct): one step
/// each, small numbers, a one-number answer, so a 135M model gets some right and has room to
/// learn (docs/reproduction-smollm2.md has the probe of each). Every problem carries a short
/// worked answer in the format the reward reads, for supervised fine-tuning at the same
/// parameter counts.
public enum TaskFamily: String, CaseIterable, Sendable {
    /// "What is 14 + 7?": a ≤ 20, b a digit.
    case addition
    /// "What is 23 - 8?": a in 10...29, b a digit.
    case subtraction
    /// "What is 7 x 6?": a in 2...12, b in 2...9.
    case multiplication
    /// "Which number is larger, 47 or 52?": two different two-digit numbers.
    case comparison
    /// "How many words are in the sentence "the red fox runs"?": 3 to 8 words.
    case wordCount = "word_count"
    /// "What number comes right after 39?": n in 1...998.
    case successor

    /// The reasons each family is in the set (docs/reproduction-smollm2.md).
    public var summary: String {
        switch self {
        case .addition: return "one addition, a ≤ 20 and a digit"
        case .subtraction: return "one subtraction, 10–29 minus a digit"
        case .multiplication: return "one product, 2–12 times 2–9"
        case .comparison: return "the larger of two two-digit numbers"
        case .wordCount: return "the number of words in a 3–8 word sentence"
        case .successor: return "the number right after n ≤ 998"
        }
    }

    /// One problem: its question, the answer and a short worked answer ending in \boxed{answer}.
    func draw(_ g: inout CorpusRandom) -> (question: String, answer: Int, worked: String) {
        switch self {
        case .addition:
            let a = g.range(1...20), b = g.range(1...9)
            let question = g.pick(["What is \(a) + \(b)?", "Compute \(a) + \(b).", "What is the sum of \(a) and \(b)?"])
            return (question, a + b, "\(a) + \(b) = \(a + b). The answer is \\boxed{\(a + b)}.")
        case .subtraction:
            let a = g.range(10...29), b = g.range(1...9)
            let question = g.pick(["What is \(a) - \(b)?", "Compute \(a) - \(b).", "What is \(b) less than \(a)?"])
            return (question, a - b, "\(a) - \(b) = \(a - b). The answer is \\boxed{\(a - b)}.")
        case .multiplication:
            let a = g.range(2...12), b = g.range(2...9)
            let question = g.pick(["What is \(a) x \(b)?", "What is \(a) times \(b)?", "Compute \(a) * \(b)."])
            return (question, a * b, "\(a) × \(b) = \(a * b). The answer is \\boxed{\(a * b)}.")
        case .comparison:
            let a = g.range(10...99)
            var b = g.range(10...99)
            while b == a { b = g.range(10...99) }
            let question = g.pick(["Which number is larger, \(a) or \(b)?", "Which is bigger: \(a) or \(b)?",
                                   "What is the larger of \(a) and \(b)?"])
            let larger = max(a, b)
            return (question, larger, "\(larger) is larger than \(min(a, b)). The answer is \\boxed{\(larger)}.")
        case .wordCount:
            let count = g.range(3...8)
            let words = (0..<count).map { _ in g.pick(Self.words) }
            let sentence = words.joined(separator: " ")
            let question = g.pick(["How many words are in the sentence \"\(sentence)\"?",
                                   "Count the words in \"\(sentence)\".",
                                   "How many words does \"\(sentence)\" have?"])
            return (question, count, "The words are: \(words.joined(separator: ", ")). That is \(count) words. The answer is \\boxed{\(count)}.")
        case .successor:
            let n = g.range(1...998)
            let question = g.pick(["What number comes right after \(n)?", "What is the next number after \(n)?",
                                   "What is \(n) plus one?"])
            return (question, n + 1, "The number after \(n) is \(n + 1). The answer is \\boxed{\(n + 1)}.")
        }
    }

    static let words = ["the", "red", "fox", "runs", "a", "cat", "sleeps", "on", "mat", "big", "dog", "eats",
                        "green", "apple", "bird", "sings", "in", "tree", "small", "boy", "reads", "book", "blue",
                        "sky", "is", "clear", "we", "walk", "home", "today", "sun", "shines", "bright"]

    /// Parses a comma-separated list of family names ("all": every family).
    public static func parseList(_ spec: String) throws -> [TaskFamily] {
        if spec == "all" { return allCases }
        return try spec.split(separator: ",").map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let family = TaskFamily(rawValue: trimmed) else {
                throw WorkbenchError("unknown task family '\(trimmed)'; the families are "
                                     + allCases.map(\.rawValue).joined(separator: ", "))
            }
            return family
        }
    }
}

/// Train and held-out test problems of one task family, disjoint by question text.
public struct TaskProblems: Sendable {
    public var family: TaskFamily
    public var train: [Query]
    public var test: [Query]

    /// Draws `test` held-out problems first, then up to `train` others (fewer when the family
    /// runs out of distinct questions: 2,000 draws in a row without a new one). Every problem
    /// is a function of (seed, family). Refuses a test set the family cannot fill.
    public init(family: TaskFamily, train trainCount: Int, test testCount: Int, seed: UInt64) throws {
        guard trainCount >= 0, testCount >= 0 else { throw WorkbenchError("--train and --test must be at least 0") }
        self.family = family
        var g = CorpusRandom(seed: seed &* 1_000_003 &+ UInt64(TaskFamily.allCases.firstIndex(of: family)!) &+ 1)
        var seen = Set<String>()
        var drawn: [Query] = []
        var fruitless = 0
        while drawn.count < trainCount + testCount && fruitless < 2000 {
            let p = family.draw(&g)
            guard seen.insert(p.question).inserted else { fruitless += 1; continue }
            fruitless = 0
            let split = drawn.count < testCount ? "test" : "train"
            let index = split == "test" ? drawn.count : drawn.count - testCount
            drawn.append(Query(id: "\(family.rawValue)-\(split)-\(index)", prompt: p.question, completion: " " + p.worked,
                               answer: String(p.answer), task: family.rawValue))
        }
        guard drawn.count >= testCount else {
            throw WorkbenchError("the \(family.rawValue) family has only \(drawn.count) distinct questions, fewer than --test \(testCount)")
        }
        test = Array(drawn.prefix(testCount))
        train = Array(drawn.dropFirst(testCount))
    }

    /// DIR/FAMILY/train.jsonl and DIR/FAMILY/test.jsonl.
    public func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func lines(_ items: [Query]) throws -> Data {
            var data = Data()
            for item in items { data += try encoder.encode(item); data.append(0x0A) }
            return data
        }
        let folder = (directory as NSString).appendingPathComponent(family.rawValue)
        try writeFileAtomically(try lines(train), to: (folder as NSString).appendingPathComponent("train.jsonl"))
        try writeFileAtomically(try lines(test), to: (folder as NSString).appendingPathComponent("test.jsonl"))
    }
}
