import Foundation
import Model

/// A JSON object that keeps its keys exactly as written, in order. Foundation's
/// parser returns Swift dictionaries, whose String keys compare by canonical
/// equivalence: a vocabulary holding both "é" and "e\u{301}" would silently lose
/// one of them.
public final class JSONObject: @unchecked Sendable {
    public let pairs: [(key: String, value: Any)]
    private let index: [TokenKey: Int]

    init(pairs: [(key: String, value: Any)]) {
        self.pairs = pairs
        var idx: [TokenKey: Int] = [:]
        idx.reserveCapacity(pairs.count)
        for (i, p) in pairs.enumerated() { idx[TokenKey(p.key)] = i }  // the last duplicate wins, as in serde
        index = idx
    }

    public subscript(key: String) -> Any? {
        index[TokenKey(key)].map { pairs[$0].value }
    }
}

/// The JSON null value.
public struct JSONNull: Sendable {}

/// A strict JSON parser producing JSONObject, [Any], String, Int, Double, Bool and JSONNull.
public struct OrderedJSON {
    private let bytes: [UInt8]
    private var pos = 0

    public static func parse(_ data: Data) throws -> Any {
        var p = OrderedJSON(bytes: [UInt8](data))
        p.skipWhitespace()
        let value = try p.value()
        p.skipWhitespace()
        guard p.pos == p.bytes.count else { throw p.error("unexpected data after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ message: String) -> WorkbenchError {
        // Line and column for a readable message.
        var line = 1, column = 1
        for b in bytes[0..<min(pos, bytes.count)] { if b == 0x0A { line += 1; column = 1 } else { column += 1 } }
        return WorkbenchError("malformed JSON at line \(line), column \(column): \(message)")
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 { pos += 1 }
    }

    private mutating func value() throws -> Any {
        guard pos < bytes.count else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return try string()
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        case UInt8(ascii: "n"): try literal("null"); return JSONNull()
        default: return try number()
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { throw error("invalid literal") }
        pos += w.count
    }

    private mutating func object() throws -> JSONObject {
        pos += 1
        var pairs: [(key: String, value: Any)] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return JSONObject(pairs: pairs) }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
            pos += 1
            skipWhitespace()
            pairs.append((key, try value()))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return JSONObject(pairs: pairs) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func array() throws -> [Any] {
        pos += 1
        var items: [Any] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return items }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            guard pos < bytes.count else { throw error("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return items }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        pos += 4
        return v
    }

    private mutating func string() throws -> String {
        pos += 1
        var out: [UInt8] = []
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count, bytes[pos] != UInt8(ascii: "\""), bytes[pos] != UInt8(ascii: "\\") { pos += 1 }
        out.append(contentsOf: bytes[start..<pos])
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { pos += 1; break }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw error("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800...0xDBFF).contains(v), pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                    pos += 2
                    let low = try hex4()
                    if (0xDC00...0xDFFF).contains(low) { v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00) }
                    else { out.append(contentsOf: Array("\u{FFFD}".utf8)); v = low }
                }
                let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: throw error("bad escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }

    private mutating func number() throws -> Any {
        let start = pos
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        var isInteger = true
        while pos < bytes.count {
            let b = bytes[pos]
            if b >= 0x30 && b <= 0x39 { pos += 1 }
            else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
                isInteger = false; pos += 1
            } else { break }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return i }
        guard let d = Double(text), !text.isEmpty else { throw error("invalid value") }
        return d
    }
}
