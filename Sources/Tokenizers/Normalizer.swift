import Foundation
import Model

/// The `normalizer` stage of a tokenizer.json pipeline.
public indirect enum TextNormalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Removes combining marks, Mn, Mc and Me (use after NFD to drop accents).
    case stripAccents
    case strip(left: Bool, right: Bool)
    case replace(TextPattern, with: String)
    case prepend(String)
    case sequence([TextNormalizer])

    public func normalize(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            // Each scalar's full lowercase mapping on its own, with no context rules:
            // tokenizers lowercases per character, so "Σ" at a word's end stays "σ"
            // (String.lowercased() would apply the final-sigma rule).
            var out = String.UnicodeScalarView()
            for u in text.unicodeScalars { out.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars) }
            return String(out)
        case .stripAccents:
            var out = String.UnicodeScalarView()
            for u in text.unicodeScalars {
                switch u.properties.generalCategory {
                case .nonspacingMark, .spacingMark, .enclosingMark: continue
                default: out.append(u)
                }
            }
            return String(out)
        case .strip(let left, let right):
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            return String(String.UnicodeScalarView(scalars))
        case .replace(let pattern, let content):
            return pattern.replaceAll(in: text, with: content)
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .sequence(let steps):
            return steps.reduce(text) { $1.normalize($0) }
        }
    }
}

/// A pattern in tokenizer.json: `{"String": "..."}` (literal) or `{"Regex": "..."}`.
public enum TextPattern: Sendable {
    case literal([Unicode.Scalar])
    case regex(ScalarRegex)

    /// Matched ranges (scalar indices), non-overlapping, left to right.
    public func matches(in scalars: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .regex(let re): return re.matches(in: scalars)
        case .literal(let lit):
            guard !lit.isEmpty, lit.count <= scalars.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + lit.count <= scalars.count {
                var hit = true
                for j in 0..<lit.count where scalars[i + j] != lit[j] { hit = false; break }
                if hit { out.append(i..<(i + lit.count)); i += lit.count } else { i += 1 }
            }
            return out
        }
    }

    func replaceAll(in text: String, with content: String) -> String {
        let scalars = Array(text.unicodeScalars)
        let found = matches(in: scalars)
        if found.isEmpty { return text }
        var out = String.UnicodeScalarView()
        var last = 0
        for r in found {
            out.append(contentsOf: scalars[last..<r.lowerBound])
            out.append(contentsOf: content.unicodeScalars)
            last = r.upperBound
        }
        out.append(contentsOf: scalars[last...])
        return String(out)
    }
}
