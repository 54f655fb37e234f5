import Foundation
import Model
import Tokenizers

/// One pretraining document as the influence commands see it.
public struct InfluenceDocument: Sendable {
    /// Position in the corpus (files in name order, lines in order), from 0.
    public var index: Int
    public var id: String
    public var text: String
    public var source: String
}

/// A query: the measurement is log p(completion | prompt).
public struct InfluenceQuery: Codable, Sendable {
    public var id: String
    public var prompt: String
    public var completion: String
    public var task: String?
    public var answer: String?

    public init(id: String, prompt: String, completion: String, task: String? = nil, answer: String? = nil) {
        self.id = id; self.prompt = prompt; self.completion = completion; self.task = task; self.answer = answer
    }
}

/// Streams the documents of a corpus: a directory of `.jsonl` shards (name order) or one
/// `.jsonl` file, one {"id", "text", "source"} object per line. One shard is held at a
/// time. A bad line is an error naming file and line, unless `skipBad` (then counted).
public final class DocumentStream {
    public let files: [String]
    public let skipBad: Bool
    public private(set) var skipped = 0

    public init(path: String, skipBad: Bool = false) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WorkbenchError("no such file or directory", file: path)
        }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0.hasSuffix(".jsonl") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw WorkbenchError("no .jsonl shards", file: path) }
        } else {
            files = [path]
        }
        self.skipBad = skipBad
    }

    /// Calls `body` for every document in order; `body` returns false to stop early.
    public func forEach(_ body: (InfluenceDocument) throws -> Bool) throws {
        skipped = 0
        var index = 0
        for path in files {
            let text = try readUTF8(path)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.allSatisfy({ $0.isWhitespace }) { continue }
                guard let document = Self.parse(line, index: index) else {
                    if skipBad { skipped += 1; continue }
                    throw WorkbenchError("line \(n + 1): not a JSON object with string fields \"id\" and \"text\" (use --skip-bad to skip such lines)", file: path)
                }
                index += 1
                if try !body(document) { return }
            }
        }
    }

    /// Every document's id and source (cheap: no tokenization), in order.
    public func catalogue() throws -> (ids: [String], sources: [String]) {
        var ids: [String] = [], sources: [String] = []
        try forEach { ids.append($0.id); sources.append($0.source); return true }
        return (ids, sources)
    }

    static func parse(_ line: Substring, index: Int) -> InfluenceDocument? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let id = object["id"] as? String, let text = object["text"] as? String else { return nil }
        return InfluenceDocument(index: index, id: id, text: text, source: object["source"] as? String ?? "")
    }
}

extension InfluenceQuery {
    /// Reads a .jsonl file of queries, naming file and line on a bad one.
    public static func load(_ path: String) throws -> [InfluenceQuery] {
        let queries = try readJSONLines(InfluenceQuery.self, path,
                                        what: "a query object with string fields \"id\", \"prompt\", \"completion\"")
        guard !queries.isEmpty else { throw WorkbenchError("no queries", file: path) }
        return queries
    }

    /// Tokens of prompt + completion (each encoded alone, then joined) and the number of prompt tokens.
    public func tokens(_ tokenizer: Tokenizer) -> (tokens: [Int], promptCount: Int) {
        let p = tokenizer.encode(prompt), c = tokenizer.encode(completion, addSpecialTokens: false)
        return (p + c, p.count)
    }
}
