import Foundation
import Model
import Tokenizers

/// One line of a queries or problems `.jsonl` file: `{"id", "prompt", "completion"?,
/// "answer"?, "task"?, "mentions"?}`. Influence measures log p(completion | prompt); RL
/// and evaluation compare a generated answer with `answer`.
public struct Query: Codable, Sendable {
    public var id: String
    public var prompt: String
    /// The text whose likelihood influence measures (queries; absent in RL problems).
    public var completion: String?
    /// The expected final answer (a number for the procedures and word problems).
    public var answer: String?
    public var task: String?
    /// For factual queries of the synthetic corpus: in how many documents the fact is stated.
    public var mentions: Int?

    public init(id: String, prompt: String, completion: String? = nil, answer: String? = nil,
                task: String? = nil, mentions: Int? = nil) {
        self.id = id; self.prompt = prompt; self.completion = completion; self.answer = answer
        self.task = task; self.mentions = mentions
    }

    /// The fields a file's lines must carry besides "id" and "prompt".
    public enum Field: String, Sendable { case completion, answer }

    /// Reads a `.jsonl` file of queries or problems, naming the file and line of a bad one.
    public static func load(_ path: String, requiring fields: [Field] = [.completion]) throws -> [Query] {
        let names = (["id", "prompt"] + fields.map(\.rawValue)).map { "\"\($0)\"" }.joined(separator: ", ")
        let what = fields == [.completion] ? "a query object" : "a query/problem object"
        let rows = try readJSONLines(Query.self, path, what: "\(what) with string fields \(names)")
        for (n, q) in rows.enumerated() {
            for field in fields where (field == .completion ? q.completion : q.answer) == nil {
                throw WorkbenchError("record \(n + 1) (id \(q.id)): missing string field \"\(field.rawValue)\"", file: path)
            }
        }
        guard !rows.isEmpty else { throw WorkbenchError("no queries", file: path) }
        return rows
    }

    /// Tokens of prompt + completion (each encoded alone, then joined) and the number of prompt tokens.
    public func tokens(_ tokenizer: Tokenizer) -> (tokens: [Int], promptCount: Int) {
        let p = tokenizer.encode(prompt), c = tokenizer.encode(completion ?? "", addSpecialTokens: false)
        return (p + c, p.count)
    }
}
