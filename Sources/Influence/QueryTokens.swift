import Corpus
import Foundation
import Model
import Tokenizers

/// Which of a query's completion tokens carry the loss whose gradient is the query's side of
/// the score (`influence score --query-tokens`, docs/influence.md). The paper sums the loss of
/// every completion token; the other selections test whether the query gradient is dominated by
/// the final answer's tokens or by the procedure around them.
public enum QueryTokenSelection: Sendable, Equatable {
    /// Every completion token (the default, the paper's choice).
    case all
    /// Only the final answer: the tokens overlapping the last occurrence of the query's
    /// `answer` text in its completion.
    case answer
    /// Every completion token except those holding an ASCII digit and those of the answer.
    case procedure
    /// One mask per query id from a .jsonl file: `{"id": ..., "mask": [0, 1, ...]}`, one value
    /// per completion token.
    case file(path: String, masks: [String: [Bool]])

    /// `all`, `answer`, `procedure` or the path of a mask file.
    public static func parse(_ spec: String) throws -> QueryTokenSelection {
        switch spec {
        case "all": return .all
        case "answer": return .answer
        case "procedure": return .procedure
        default:
            guard FileManager.default.fileExists(atPath: spec) else {
                throw WorkbenchError("--query-tokens: '\(spec)' is not all, answer, procedure or an existing mask file")
            }
            var masks: [String: [Bool]] = [:]
            for (n, line) in String(decoding: try readFile(spec), as: UTF8.self).split(separator: "\n").enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let id = object["id"] as? String, let mask = object["mask"] as? [Any] else {
                    throw WorkbenchError("line \(n + 1): expected {\"id\": ..., \"mask\": [0, 1, ...]}", file: spec)
                }
                masks[id] = try mask.map {
                    guard let v = ($0 as? NSNumber)?.intValue, v == 0 || v == 1 else {
                        throw WorkbenchError("line \(n + 1): mask values must be 0 or 1", file: spec)
                    }
                    return v == 1
                }
            }
            return .file(path: spec, masks: masks)
        }
    }

    /// How the selection is recorded in a score file (the `query_tokens` attribute).
    public var name: String {
        switch self {
        case .all: return "all"
        case .answer: return "answer"
        case .procedure: return "procedure"
        case .file(let path, _): return "file:" + (path as NSString).lastPathComponent
        }
    }

    /// The mask over the completion tokens `completion` of `query`: true where the token's loss counts.
    public func mask(_ query: Query, completion: [Int], tokenizer: Tokenizer) throws -> [Bool] {
        switch self {
        case .all:
            return completion.map { _ in true }
        case .file(let path, let masks):
            guard let mask = masks[query.id] else { throw WorkbenchError("no mask for query \(query.id)", file: path) }
            guard mask.count == completion.count else {
                throw WorkbenchError("the mask of query \(query.id) has \(mask.count) values for \(completion.count) completion tokens", file: path)
            }
            return mask
        case .answer, .procedure:
            let spans = Self.characterSpans(completion, tokenizer: tokenizer)
            let text = tokenizer.decode(completion)
            guard let answer = query.answer, !answer.isEmpty else {
                throw WorkbenchError("query \(query.id): --query-tokens \(name) needs the query's answer")
            }
            guard let found = text.range(of: answer, options: .backwards) else {
                throw WorkbenchError("query \(query.id): its answer '\(answer)' does not appear in its completion")
            }
            let answerSpan = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: found.lowerBound)
                ..< text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: found.upperBound)
            return zip(completion, spans).map { id, span in
                let inAnswer = span.overlaps(answerSpan)
                if self == .answer { return inAnswer }
                return !inAnswer && !tokenizer.decode([id]).unicodeScalars.contains { ("0"..."9").contains($0) }
            }
        }
    }

    /// Each token's range of Unicode scalars in the decoded completion: token i covers what
    /// decoding the first i + 1 tokens adds to decoding the first i.
    static func characterSpans(_ tokens: [Int], tokenizer: Tokenizer) -> [Range<Int>] {
        var spans: [Range<Int>] = [], previous = 0
        for i in tokens.indices {
            let end = max(previous, tokenizer.decode(Array(tokens[...i])).unicodeScalars.count)
            spans.append(previous..<end)
            previous = end
        }
        return spans
    }
}
