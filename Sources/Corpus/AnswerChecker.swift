import Foundation

/// Reads the final answer out of a generated text and compares it with the expected one
/// (methods.md §1: the reward is +1 when the LAST `\boxed{...}` equals the answer).
public enum AnswerChecker {
    /// The contents of the last `\boxed{...}`, braces matched (so `\boxed{\frac{1}{2}}` gives
    /// `\frac{1}{2}`); nil when there is none or it is never closed.
    public static func lastBoxed(_ text: String) -> String? {
        let marker = "\\boxed{"
        var searchEnd = text.endIndex
        while let r = text.range(of: marker, options: .backwards, range: text.startIndex..<searchEnd) {
            var depth = 1
            var i = r.upperBound
            while i < text.endIndex {
                let ch = text[i]
                if ch == "{" { depth += 1 } else if ch == "}" {
                    depth -= 1
                    if depth == 0 { return String(text[r.upperBound..<i]) }
                }
                i = text.index(after: i)
            }
            searchEnd = r.lowerBound   // unclosed: try an earlier one
        }
        return nil
    }

    /// The number after the last "The answer is" (digits with a sign, "$", separators,
    /// a decimal point or a fraction bar; a sentence's final "." or "," is not part of it).
    public static func answerIsPhrase(_ text: String) -> String? {
        guard let r = text.range(of: "The answer is", options: .backwards) else { return nil }
        var rest = Substring(text[r.upperBound...])
        while let first = rest.first, first == " " || first == ":" { rest.removeFirst() }
        var token = String(rest.prefix { ($0.isASCII && $0.isNumber) || "-+$.,/".contains($0) })
        while let last = token.last, last == "." || last == "," { token.removeLast() }
        return token.contains(where: \.isNumber) ? token : nil
    }

    /// The text after the last "####" (GSM8K's format), up to the end of its line.
    public static func hashMarked(_ text: String) -> String? {
        guard let r = text.range(of: "####", options: .backwards) else { return nil }
        let rest = text[r.upperBound...].prefix { !$0.isNewline }.trimmingCharacters(in: .whitespaces)
        return rest.isEmpty ? nil : rest
    }

    /// The final answer in the first format found of: last `\boxed{}`, "#### N", "The answer is N".
    public static func extract(_ text: String) -> String? {
        lastBoxed(text) ?? hashMarked(text) ?? answerIsPhrase(text)
    }

    /// Whether `candidate` and `expected` name the same number ("1,000" = "1000",
    /// "0.50" = "0.5", "3/4" = "0.75", a leading "$" or trailing "." ignored); texts that are not
    /// numbers are compared after trimming spaces.
    public static func sameAnswer(_ candidate: String, _ expected: String) -> Bool {
        if let a = numericValue(candidate), let b = numericValue(expected) { return a == b }
        return candidate.trimmingCharacters(in: .whitespaces) == expected.trimmingCharacters(in: .whitespaces)
    }

    /// An exact rational value (numerator, denominator in lowest terms, denominator > 0) of a
    /// decimal, integer with thousands separators, or fraction `a/b` / `\frac{a}{b}`.
    public static func numericValue(_ text: String) -> Rational? {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("$") { s.removeFirst() }
        while s.hasSuffix(".") { s.removeLast() }
        if s.hasPrefix("\\frac{"), s.hasSuffix("}") {
            let inner = s.dropFirst(6).dropLast()
            let parts = inner.components(separatedBy: "}{")
            guard parts.count == 2 else { return nil }
            s = parts[0] + "/" + parts[1]
        }
        if let slash = s.firstIndex(of: "/") {
            guard let n = decimal(String(s[..<slash])), let d = decimal(String(s[s.index(after: slash)...])),
                  d.numerator != 0 else { return nil }
            let (top, o1) = n.numerator.multipliedReportingOverflow(by: d.denominator)
            let (bottom, o2) = n.denominator.multipliedReportingOverflow(by: d.numerator)
            guard !o1, !o2, top != .min, bottom != .min else { return nil }   // too large to compare exactly
            return Rational(top, bottom)
        }
        return decimal(s)
    }

    private static func decimal(_ raw: String) -> Rational? {
        var s = raw.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty else { return nil }
        var negative = false
        if s.hasPrefix("-") { negative = true; s.removeFirst() } else if s.hasPrefix("+") { s.removeFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first else { return nil }
        // Thousands separators only between groups of three digits.
        let groups = whole.split(separator: ",", omittingEmptySubsequences: false)
        guard groups.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              groups.count == 1 || groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy({ $0.isASCII && $0.isNumber }), whole.count + fraction.count <= 18 else { return nil }
        guard let n = Int(groups.joined() + fraction) else { return nil }
        var d = 1
        for _ in 0..<fraction.count { d *= 10 }
        return Rational(negative ? -n : n, d)
    }
}

/// An exact fraction in lowest terms.
public struct Rational: Equatable, Sendable {
    public let numerator: Int
    public let denominator: Int
    public init(_ n: Int, _ d: Int) {
        precondition(d != 0 && n != .min && d != .min, "zero denominator or Int.min")
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? abs(a) : gcd(b, a % b) }
        let g = max(1, gcd(n, d)) * (d < 0 ? -1 : 1)
        numerator = n / g; denominator = d / g
    }
}
