import Foundation
import Model

/// One entry of tokenizer.json's `added_tokens`.
public struct AddedToken: Sendable {
    public var id: Int
    public var content: String
    public var special: Bool
    public var lstrip: Bool
    public var rstrip: Bool
    public var singleWord: Bool
    public var normalized: Bool

    public init(id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                singleWord: Bool = false, normalized: Bool = false) {
        self.id = id; self.content = content; self.special = special
        self.lstrip = lstrip; self.rstrip = rstrip; self.singleWord = singleWord; self.normalized = normalized
    }
}

/// A segment of input after added tokens are split out: either plain text or one added token.
enum Segment {
    case text(TextPiece)
    case token(Int)
}

/// Finds added tokens in text, longest match first at each position (leftmost-longest),
/// honouring lstrip / rstrip (absorb neighbouring whitespace) and single_word (only
/// between non-word characters), as tokenizers' AddedVocabulary does.
struct AddedTokenMatcher {
    /// candidates by first scalar, longest first
    private var byFirst: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]
    /// Which ASCII scalars start some token: most text is skipped on this test alone.
    private var asciiFirst: (UInt64, UInt64) = (0, 0)
    private var anyNonASCIIFirst = false

    init(tokens: [AddedToken], patternOf: (AddedToken) -> String) {
        for t in tokens {
            let p = Array(patternOf(t).unicodeScalars)
            guard let first = p.first else { continue }
            byFirst[first, default: []].append((p, t))
        }
        for k in byFirst.keys {
            byFirst[k]!.sort { $0.scalars.count > $1.scalars.count }
            switch k.value {
            case 0..<64: asciiFirst.0 |= 1 << UInt64(k.value)
            case 64..<128: asciiFirst.1 |= 1 << UInt64(k.value - 64)
            default: anyNonASCIIFirst = true
            }
        }
    }

    @inline(__always)
    private func mayStartToken(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 64 { return asciiFirst.0 & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiFirst.1 & (1 << UInt64(v - 64)) != 0 }
        return anyNonASCIIFirst
    }

    var isEmpty: Bool { byFirst.isEmpty }

    /// Splits `piece` into text and token segments covering it (empty text is dropped).
    func split(_ piece: TextPiece) -> [Segment] {
        let s = piece.scalars
        if s.isEmpty { return [] }
        if isEmpty { return [.text(piece)] }
        var segments: [Segment] = []
        var textStart = 0   // start of the pending text segment
        var i = 0
        while i < s.count {
            guard mayStartToken(s[i]), let candidates = byFirst[s[i]],
                  let hit = candidates.first(where: { c in
                      i + c.scalars.count <= s.count && s[i..<(i + c.scalars.count)].elementsEqual(c.scalars)
                  }) else { i += 1; continue }
            var start = i, stop = i + hit.scalars.count
            let t = hit.token
            if t.singleWord {
                let before = start == 0 || !CategoryClass.isWord(s[start - 1])
                let after = stop == s.count || !CategoryClass.isWord(s[stop])
                if !(before && after) { i = stop; continue }
            }
            if t.lstrip {
                var j = start
                while j > textStart, s[j - 1].properties.isWhitespace { j -= 1 }
                start = j
            }
            if t.rstrip {
                while stop < s.count, s[stop].properties.isWhitespace { stop += 1 }
            }
            if textStart < start {
                segments.append(.text(TextPiece(Array(s[textStart..<start]), atTextStart: piece.atTextStart && textStart == 0)))
            }
            segments.append(.token(t.id))
            textStart = stop
            i = stop
        }
        if textStart < s.count {
            segments.append(.text(TextPiece(Array(s[textStart...]), atTextStart: piece.atTextStart && textStart == 0)))
        }
        return segments
    }
}
