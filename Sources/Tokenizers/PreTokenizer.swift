import Foundation
import Model

/// A piece of text on its way through the pipeline, as Unicode scalars.
/// `atTextStart` marks a piece that begins at the start of the input (Metaspace's
/// "first" prepend scheme adds its marker only there).
public struct TextPiece: Sendable {
    public var scalars: [Unicode.Scalar]
    public var atTextStart: Bool
    public init(_ scalars: [Unicode.Scalar], atTextStart: Bool) {
        self.scalars = scalars
        self.atTextStart = atTextStart
    }
    public var string: String { String(scalars: scalars) }
}

extension String {
    /// A string from scalars, built through UTF-8 (the fast path of String's initialisers).
    init<C: Collection>(scalars: C) where C.Element == Unicode.Scalar {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count)
        for s in scalars { appendUTF8(s, to: &bytes) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// Appends the UTF-8 encoding of `s`.
@inline(__always)
func appendUTF8(_ s: Unicode.Scalar, to bytes: inout [UInt8]) {
    let v = s.value
    switch v {
    case 0..<0x80:
        bytes.append(UInt8(v))
    case 0x80..<0x800:
        bytes.append(UInt8(0xC0 | (v >> 6))); bytes.append(UInt8(0x80 | (v & 0x3F)))
    case 0x800..<0x10000:
        bytes.append(UInt8(0xE0 | (v >> 12))); bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        bytes.append(UInt8(0x80 | (v & 0x3F)))
    default:
        bytes.append(UInt8(0xF0 | (v >> 18))); bytes.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F))); bytes.append(UInt8(0x80 | (v & 0x3F)))
    }
}

/// What a split does with the parts a pattern matched (tokenizers' SplitDelimiterBehavior).
public enum SplitBehavior: String, Sendable {
    case removed, isolated, contiguous
    case mergedWithPrevious = "merged_with_previous"
    case mergedWithNext = "merged_with_next"

    public init(json: String) throws {
        let key = json.lowercased()
        let table: [String: SplitBehavior] = ["removed": .removed, "isolated": .isolated, "contiguous": .contiguous,
                                              "mergedwithprevious": .mergedWithPrevious, "merged_with_previous": .mergedWithPrevious,
                                              "mergedwithnext": .mergedWithNext, "merged_with_next": .mergedWithNext]
        guard let b = table[key] else { throw WorkbenchError("unknown split behavior '\(json)'") }
        self = b
    }

    /// Applies the behaviour to a covering list of (range, isMatch) and returns the ranges kept.
    func apply(_ parts: [(Range<Int>, Bool)]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch self {
        case .isolated:
            out = parts.map(\.0)
        case .removed:
            out = parts.filter { !$0.1 }.map(\.0)
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in parts {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in parts {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in parts.reversed() {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            out.reverse()
        }
        return out
    }
}

/// The `pre_tokenizer` stage: splits normalized text into the pieces BPE runs on.
public indirect enum PreTokenizer: Sendable {
    case split(TextPattern, SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case digits(individual: Bool)
    case whitespace
    case whitespaceSplit
    case metaspace(replacement: Unicode.Scalar, prepend: MetaspacePrepend, split: Bool)
    case sequence([PreTokenizer])

    public enum MetaspacePrepend: String, Sendable { case always, first, never }

    /// GPT-2's split pattern, used by ByteLevel with use_regex.
    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let gpt2Regex = try! ScalarRegex(gpt2Pattern)
    static let whitespaceRegex = try! ScalarRegex(#"\w+|[^\w\s]+"#)

    public func apply(_ pieces: [TextPiece]) -> [TextPiece] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.apply($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            var out: [TextPiece] = []
            for var p in pieces {
                if addPrefixSpace && p.scalars.first != " " { p.scalars.insert(" ", at: 0) }
                let parts = useRegex ? Self.split(p, by: { Self.gpt2Regex.matches(in: $0) }, .isolated, invert: false) : [p]
                var utf8: [UInt8] = []
                for part in parts {
                    utf8.removeAll(keepingCapacity: true)
                    for u in part.scalars { appendUTF8(u, to: &utf8) }
                    out.append(TextPiece(utf8.map { ByteLevelMap.byteToScalar[Int($0)] }, atTextStart: part.atTextStart))
                }
            }
            return out
        default:
            return pieces.flatMap { applyToPiece($0) }
        }
    }

    private func applyToPiece(_ piece: TextPiece) -> [TextPiece] {
        switch self {
        case .split(let pattern, let behavior, let invert):
            return Self.split(piece, by: { pattern.matches(in: $0) }, behavior, invert: invert)
        case .digits(let individual):
            return Self.split(piece, by: Self.each { $0.properties.numericType != nil },
                              individual ? .isolated : .contiguous, invert: false)
        case .whitespace:
            return Self.split(piece, by: { Self.whitespaceRegex.matches(in: $0) }, .removed, invert: true)
        case .whitespaceSplit:
            return Self.split(piece, by: Self.each { $0.properties.isWhitespace }, .removed, invert: false)
        case .metaspace(let replacement, let prepend, let split):
            var p = piece
            p.scalars = p.scalars.map { $0 == " " ? replacement : $0 }
            let addMarker = prepend == .always || (prepend == .first && p.atTextStart)
            if addMarker && p.scalars.first != replacement { p.scalars.insert(replacement, at: 0) }
            return split ? Self.split(p, by: Self.each { $0 == replacement }, .mergedWithNext, invert: false) : [p]
        case .sequence, .byteLevel:
            return apply([piece])
        }
    }

    /// A "pattern" matching every single scalar that satisfies `predicate`.
    static func each(_ predicate: @escaping (Unicode.Scalar) -> Bool) -> ([Unicode.Scalar]) -> [Range<Int>] {
        { scalars in scalars.indices.filter { predicate(scalars[$0]) }.map { $0..<($0 + 1) } }
    }

    /// Splits one piece: the matches and the gaps between them cover the piece;
    /// `behavior` decides what is kept; empty pieces are dropped.
    static func split(_ piece: TextPiece, by find: ([Unicode.Scalar]) -> [Range<Int>],
                      _ behavior: SplitBehavior, invert: Bool) -> [TextPiece] {
        let s = piece.scalars
        if s.isEmpty { return [] }
        var parts: [(Range<Int>, Bool)] = []
        var previous = 0
        for m in find(s) {
            if previous < m.lowerBound { parts.append((previous..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            previous = m.upperBound
        }
        if previous < s.count { parts.append((previous..<s.count, invert)) }
        return behavior.apply(parts).compactMap { r in
            r.isEmpty ? nil : TextPiece(Array(s[r]), atTextStart: piece.atTextStart && r.lowerBound == 0)
        }
    }
}
