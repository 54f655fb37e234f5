import Foundation
import Model

/// The `decoder` stage: turns token strings back into text.
public indirect enum TokenDecoder: Sendable {
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.MetaspacePrepend)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(TextPattern, with: String)
    /// BPEDecoder: the end-of-word suffix becomes a space, except in the last token where it is removed.
    case wordSuffix(String)
    case sequence([TokenDecoder])

    /// One step: tokens in, tokens out (tokenizers' decode_chain); the caller joins the result.
    public func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            // A token made only of byte-alphabet characters becomes those bytes; any
            // other token keeps its UTF-8. All bytes are then decoded at once, each
            // maximal invalid subsequence becoming U+FFFD.
            var bytes: [UInt8] = []
            for t in tokens { bytes += ByteLevelMap.bytes(ofToken: t) }
            return [String(decoding: bytes, as: UTF8.self)]
        case .wordSuffix(let suffix):
            return tokens.enumerated().map { i, t in
                t.replacingOccurrences(of: suffix, with: i == tokens.count - 1 ? "" : " ")
            }
        case .fuse:
            return [tokens.joined()]
        case .replace(let pattern, let content):
            return tokens.map { pattern.replaceAll(in: $0, with: content) }
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                var s = Array(t.unicodeScalars)
                var removed = 0
                while removed < start, let f = s.first, f == content { s.removeFirst(); removed += 1 }
                removed = 0
                while removed < stop, let l = s.last, l == content { s.removeLast(); removed += 1 }
                return String(String.UnicodeScalarView(s))
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, t in
                var s = String(String.UnicodeScalarView(t.unicodeScalars.map { $0 == replacement ? " " : $0 }))
                if i == 0 && scheme != .never && s.hasPrefix(" ") { s.removeFirst() }
                return s
            }
        case .byteFallback:
            // Runs of <0xNN> tokens become their bytes, decoded as UTF-8; an invalid run
            // becomes one U+FFFD per byte.
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) { out.append(s) }
                else { out += pending.map { _ in "\u{FFFD}" } }
                pending = []
            }
            for t in tokens {
                if let b = Self.byteToken(t) { pending.append(b) } else { flush(); out.append(t) }
            }
            flush()
            return out
        }
    }

    /// The byte of a "<0xNN>" token.
    static func byteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}
