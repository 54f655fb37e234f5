import Foundation
import Model

/// One document of a corpus, as every command reads it.
public struct Document: Sendable {
    /// Position in the corpus (files in name order, lines in order), from 0.
    public var index: Int
    /// The line's "id"; for a `.txt` file or a line without one, FILE:LINE relative to the corpus.
    public var id: String
    public var text: String
    /// The line's "source", if any.
    public var source: String?
}

/// THE corpus reader (`--docs`, `--corpus`): a `.jsonl` or `.txt` file, or a directory
/// searched recursively for them, files in path order so the result does not depend on the
/// file system. A `.jsonl` file holds one {"id", "text", "source"} object per line
/// ("text" required); a `.txt` file is one document. Files are read one at a time.
/// A bad line is an error naming the file and the line, unless `skipBad` (then counted).
public final class DocumentStream {
    public let files: [String]
    /// Every document must carry a string "id" (influence scores are keyed by it).
    public let requireIDs: Bool
    public let skipBad: Bool
    /// Added to a bad-line error, e.g. how to skip such lines.
    public var badLineHint: String?
    public private(set) var skipped = 0
    private let root: String

    public init(path: String, requireIDs: Bool = false, skipBad: Bool = false) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WorkbenchError("no such file or directory", file: path)
        }
        if isDirectory.boolValue {
            guard let enumerator = FileManager.default.enumerator(atPath: path) else {
                throw WorkbenchError("cannot list directory", file: path)
            }
            files = enumerator.compactMap { $0 as? String }
                .filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".txt") }
                .sorted()
                .map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw WorkbenchError("no .jsonl or .txt files", file: path) }
            root = path
        } else {
            files = [path]
            root = (path as NSString).deletingLastPathComponent
        }
        self.requireIDs = requireIDs
        self.skipBad = skipBad
    }

    /// Calls `body` for every document in order; `body` returns false to stop early.
    public func forEach(_ body: (Document) throws -> Bool) throws {
        skipped = 0
        var index = 0
        for path in files {
            let text = try readUTF8(path)
            let name = relativeName(path)
            if path.hasSuffix(".txt") {
                if try !body(Document(index: index, id: name, text: text, source: nil)) { return }
                index += 1
                continue
            }
            for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
                if line.allSatisfy({ $0.isWhitespace }) { continue }
                let document: Document
                switch parse(line, index: index, fallbackID: "\(name):\(n + 1)") {
                case .success(let d): document = d
                case .failure(let problem):
                    if skipBad { skipped += 1; continue }
                    throw WorkbenchError("line \(n + 1): \(problem)" + (badLineHint.map { " (\($0))" } ?? ""), file: path)
                }
                index += 1
                if try !body(document) { return }
            }
        }
    }

    /// Every document, read at once.
    public func all() throws -> [Document] {
        var out: [Document] = []
        try forEach { out.append($0); return true }
        return out
    }

    /// Every document's id and source (no tokenization), in order.
    public func catalogue() throws -> (ids: [String], sources: [String?]) {
        var ids: [String] = [], sources: [String?] = []
        try forEach { ids.append($0.id); sources.append($0.source); return true }
        return (ids, sources)
    }

    private struct LineProblem: Error, CustomStringConvertible { var description: String }

    private func parse(_ line: Substring, index: Int, fallbackID: String) -> Result<Document, LineProblem> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return .failure(LineProblem(description: "not a JSON object"))
        }
        guard let text = object["text"] as? String else { return .failure(LineProblem(description: "missing string field \"text\"")) }
        let id = object["id"] as? String
        if requireIDs && id == nil { return .failure(LineProblem(description: "missing string field \"id\"")) }
        return .success(Document(index: index, id: id ?? fallbackID, text: text, source: object["source"] as? String))
    }

    private func relativeName(_ path: String) -> String {
        let prefix = root.hasSuffix("/") || root.isEmpty ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}
