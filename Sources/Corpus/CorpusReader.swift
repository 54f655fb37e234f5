import Foundation
import Model

/// Reads the texts of a corpus directory: `.jsonl` files with one
/// {"id", "text", "source"} object per line, and `.txt` files taken whole.
/// Files are read in name order, so the result does not depend on the file system.
public enum TextCorpus {
    public static func documents(in directory: String) throws -> [String] {
        try labeledDocuments(in: directory).map(\.text)
    }

    /// The documents with their `source` field (nil for `.txt` files and lines without one).
    public static func labeledDocuments(in directory: String) throws -> [(text: String, source: String?)] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw WorkbenchError("no such directory", file: directory)
        }
        let files: [String]
        if isDir.boolValue {
            guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
                throw WorkbenchError("cannot list directory", file: directory)
            }
            files = enumerator.compactMap { $0 as? String }
                .filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".txt") }
                .sorted()
                .map { (directory as NSString).appendingPathComponent($0) }
        } else {
            files = [directory]
        }
        guard !files.isEmpty else { throw WorkbenchError("no .jsonl or .txt files", file: directory) }
        var docs: [(text: String, source: String?)] = []
        for path in files {
            let text = try readUTF8(path)
            if path.hasSuffix(".txt") { docs.append((text, nil)); continue }
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { continue }
                guard let obj = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                    throw WorkbenchError("line \(n + 1): not a JSON object", file: path)
                }
                guard let t = obj["text"] as? String else { throw WorkbenchError("line \(n + 1): missing string field \"text\"", file: path) }
                docs.append((t, obj["source"] as? String))
            }
        }
        return docs
    }
}
