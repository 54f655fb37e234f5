import Foundation

// Reading text inputs, with errors that name the file (and the line).

/// The bytes of a regular file. (Read with POSIX calls: Foundation's FileManager.contents
/// leaks a buffer on empty files, found by fuzzing.)
public func readFile(_ path: String) throws -> Data {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw WorkbenchError(errno == ENOENT ? "no such file" : "cannot read file (\(String(cString: strerror(errno))))", file: path)
    }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw WorkbenchError("cannot read file (\(String(cString: strerror(errno))))", file: path) }
    guard info.st_mode & S_IFMT != S_IFDIR else { throw WorkbenchError("is a directory, not a file", file: path) }
    var data = Data()
    data.reserveCapacity(max(0, Int(info.st_size)))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw WorkbenchError("cannot read file (\(String(cString: strerror(errno))))", file: path) }
        if n == 0 { return data }
        data.append(contentsOf: chunk[0..<n])
    }
}

/// Reads a text file that must be valid UTF-8.
public func readUTF8(_ path: String) throws -> String {
    let data = try readFile(path)
    guard let text = String(validating: data, as: UTF8.self) else {
        let offset = firstInvalidUTF8Offset(data)
        throw WorkbenchError("invalid UTF-8 at byte \(offset)", file: path)
    }
    return text
}

/// Byte offset of the first byte that does not start a valid UTF-8 sequence.
public func firstInvalidUTF8Offset(_ data: Data) -> Int {
    var decoder = UTF8()
    var iterator = data.makeIterator()
    var offset = 0
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let s): offset += UTF8.width(s)
        case .emptyInput: return offset
        case .error: return offset
        }
    }
}

/// Reads a .jsonl file of Decodable rows, naming the file and line on a bad row;
/// `what` describes a valid row in that message (default: the decoder's own words).
public func readJSONLines<T: Decodable>(_ type: T.Type, _ path: String, what: String? = nil) throws -> [T] {
    let text = try readUTF8(path)
    let decoder = JSONDecoder()
    var rows: [T] = []
    for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        do { rows.append(try decoder.decode(T.self, from: Data(line.utf8))) }
        catch { throw WorkbenchError("line \(n + 1): " + (what.map { "not \($0)" } ?? "not a valid record (\(error))"), file: path) }
    }
    return rows
}
