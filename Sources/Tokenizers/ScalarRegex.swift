import Foundation
import Model

/// A small backtracking regular-expression engine over Unicode scalars, for the
/// patterns tokenizer.json files use (GPT-2, Llama 3, Qwen2 and similar splits).
/// Hugging Face `tokenizers` runs these patterns with Oniguruma / Rust regex on
/// code points; Swift's own Regex works on grapheme clusters by default and
/// NSRegularExpression on UTF-16, so neither splits "e\u{301}" or "\r\n" the same
/// way. Alternation is leftmost-first (Perl semantics), quantifiers greedy unless
/// followed by `?`.
///
/// Supported: literals and escapes (\r \n \t \f \v \e \0 \xHH \x{H…} \u{H…} \uHHHH,
/// escaped punctuation), `.`, classes `[...]` with ranges and negation, \s \S \d \D
/// \w \W, \p{…} / \P{…} with general categories (L, Lu, Ll, Lt, Lm, Lo, M, Mn, Mc,
/// Me, N, Nd, Nl, No, P…, S…, Z…, C…), groups `( )`, `(?: )`, `(?i: )`, `(?i)`,
/// look-ahead `(?= )` / `(?! )`, quantifiers `* + ? {n} {n,} {n,m}` (lazy with `?`),
/// anchors `^` and `$`.
public struct ScalarRegex: Sendable {
    public let pattern: String
    let program: [Instruction]
    let sets: [ScalarSet]

    public init(_ pattern: String) throws {
        self.pattern = pattern
        var parser = RegexParser(pattern: pattern)
        let node = try parser.parseAll()
        var compiler = RegexCompiler()
        compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
        sets = parser.sets
    }

    /// Non-overlapping matches, left to right, as half-open scalar index ranges.
    /// An empty match advances the search by one scalar (as Rust's find_iter).
    public func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        var stack: [(pc: Int, pos: Int)] = []
        while start <= text.count {
            var found: Int? = nil
            var s = start
            while s <= text.count {
                if let end = run(pc: 0, at: s, text: text, stack: &stack) { found = end; break }
                s += 1
            }
            guard let end = found else { break }
            out.append(s..<end)
            start = end > s ? end : end + 1
            if end == s && s == text.count { break }
        }
        return out
    }

    /// Whether the whole pattern matches starting at `pos`; returns the end.
    func run(pc startPC: Int, at startPos: Int, text: [Unicode.Scalar], stack: inout [(pc: Int, pos: Int)]) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = startPC, pos = startPos
        while true {
            switch program[pc] {
            case .scalar(let v):
                if pos < text.count && text[pos].value == v { pc += 1; pos += 1; continue }
            case .scalarCaseless(let options):
                if pos < text.count && options.contains(text[pos].value) { pc += 1; pos += 1; continue }
            case .set(let i):
                if pos < text.count && sets[i].contains(text[pos]) { pc += 1; pos += 1; continue }
            case .anyButNewline:
                if pos < text.count && text[pos] != "\n" { pc += 1; pos += 1; continue }
            case .split(let first, let second):
                stack.append((second, pos))
                pc = first
                continue
            case .jump(let target):
                pc = target
                continue
            case .lookahead(let negative, let body, let next):
                var inner: [(pc: Int, pos: Int)] = []
                let matched = run(pc: body, at: pos, text: text, stack: &inner) != nil
                if matched != negative { pc = next; continue }
            case .assertStart:
                if pos == 0 { pc += 1; continue }
            case .assertEnd:
                if pos == text.count { pc += 1; continue }
            case .match:
                return pos
            }
            // Failure: resume the most recent alternative.
            guard stack.count > base, let (nextPC, nextPos) = stack.popLast() else { return nil }
            pc = nextPC
            pos = nextPos
        }
    }
}

enum Instruction: Sendable {
    case scalar(UInt32)
    case scalarCaseless([UInt32])
    case set(Int)
    case anyButNewline
    /// Try `first`, then `second` on failure.
    case split(Int, Int)
    case jump(Int)
    /// Run the sub-program at `body` (which ends in `.match`); continue at `next`
    /// when it matched (positive) or did not (negative).
    case lookahead(negative: Bool, body: Int, next: Int)
    case assertStart
    case assertEnd
    case match
}

/// A set of scalars: explicit ranges and Unicode general categories, possibly negated.
struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    var categories: [CategoryClass] = []
    var negatedCategories: [CategoryClass] = []
    var negated = false
    /// Membership of the first 128 scalars, precomputed.
    var ascii: (UInt64, UInt64) = (0, 0)

    mutating func finalize() {
        var lo: UInt64 = 0, hi: UInt64 = 0
        for v in 0..<128 {
            if slowContains(Unicode.Scalar(UInt8(v))) {
                if v < 64 { lo |= 1 << UInt64(v) } else { hi |= 1 << UInt64(v - 64) }
            }
        }
        ascii = (lo, hi)
    }

    @inline(__always)
    func contains(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 64 { return ascii.0 & (1 << UInt64(v)) != 0 }
        if v < 128 { return ascii.1 & (1 << UInt64(v - 64)) != 0 }
        return slowContains(s)
    }

    func slowContains(_ s: Unicode.Scalar) -> Bool {
        var inside = false
        for r in ranges where r.contains(s.value) { inside = true; break }
        if !inside { for c in categories where c.contains(s) { inside = true; break } }
        if !inside { for c in negatedCategories where !c.contains(s) { inside = true; break } }
        return inside != negated
    }
}

/// Classes a scalar can be tested against.
enum CategoryClass: Sendable {
    case general(Set<Unicode.GeneralCategory>)
    /// \s: the White_Space property.
    case whitespace
    /// \d: decimal digits (Nd).
    case digit
    /// \w: alphabetic, marks, decimal digits, connector punctuation, join controls.
    case word

    func contains(_ s: Unicode.Scalar) -> Bool {
        switch self {
        case .general(let cats): return cats.contains(s.properties.generalCategory)
        case .whitespace: return s.properties.isWhitespace
        case .digit: return s.properties.generalCategory == .decimalNumber
        case .word: return CategoryClass.isWord(s)
        }
    }

    static func isWord(_ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static func generalCategories(named name: String) -> Set<Unicode.GeneralCategory>? {
        typealias G = Unicode.GeneralCategory
        let letters: [String: [G]] = [
            "Lu": [.uppercaseLetter], "Ll": [.lowercaseLetter], "Lt": [.titlecaseLetter],
            "Lm": [.modifierLetter], "Lo": [.otherLetter],
            "Mn": [.nonspacingMark], "Mc": [.spacingMark], "Me": [.enclosingMark],
            "Nd": [.decimalNumber], "Nl": [.letterNumber], "No": [.otherNumber],
            "Pc": [.connectorPunctuation], "Pd": [.dashPunctuation], "Ps": [.openPunctuation],
            "Pe": [.closePunctuation], "Pi": [.initialPunctuation], "Pf": [.finalPunctuation],
            "Po": [.otherPunctuation],
            "Sm": [.mathSymbol], "Sc": [.currencySymbol], "Sk": [.modifierSymbol], "So": [.otherSymbol],
            "Zs": [.spaceSeparator], "Zl": [.lineSeparator], "Zp": [.paragraphSeparator],
            "Cc": [.control], "Cf": [.format], "Cs": [.surrogate], "Co": [.privateUse], "Cn": [.unassigned],
        ]
        if let single = letters[name] { return Set(single) }
        let groups: [String: String] = ["L": "L", "Letter": "L", "M": "M", "Mark": "M", "N": "N", "Number": "N",
                                        "P": "P", "Punctuation": "P", "S": "S", "Symbol": "S",
                                        "Z": "Z", "Separator": "Z", "C": "C", "Other": "C"]
        if let prefix = groups[name] {
            return Set(letters.filter { $0.key.hasPrefix(prefix) }.flatMap(\.value))
        }
        if name == "L&" || name == "LC" { return [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter] }
        return nil
    }
}

indirect enum RegexNode {
    case scalar(UInt32, caseless: Bool)
    case set(Int)
    case any
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    case lookahead(RegexNode, negative: Bool)
    case start
    case end
}

struct RegexParser {
    let scalars: [Unicode.Scalar]
    let pattern: String
    var pos = 0
    var sets: [ScalarSet] = []
    var caseless = false

    init(pattern: String) {
        self.pattern = pattern
        scalars = Array(pattern.unicodeScalars)
    }

    func error(_ message: String) -> WorkbenchError {
        WorkbenchError("regex /\(pattern)/: \(message) at position \(pos)")
    }

    var atEnd: Bool { pos >= scalars.count }
    func peek(_ offset: Int = 0) -> Unicode.Scalar? { pos + offset < scalars.count ? scalars[pos + offset] : nil }

    mutating func parseAll() throws -> RegexNode {
        let node = try parseAlternation()
        if !atEnd { throw error("unbalanced ')'") }
        return node
    }

    mutating func parseAlternation() throws -> RegexNode {
        var branches = [try parseSequence()]
        while peek() == "|" {
            pos += 1
            branches.append(try parseSequence())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseSequence() throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != "|", c != ")" {
            var atom = try parseAtom()
            guard let a = atom else { continue }
            atom = try parseQuantifier(a)
            items.append(atom!)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func parseQuantifier(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek() {
            var minCount = 0, maxCount: Int? = nil
            switch c {
            case "*": pos += 1
            case "+": pos += 1; minCount = 1
            case "?": pos += 1; maxCount = 1
            case "{":
                guard let (lo, hi, length) = parseBraces() else { return node }
                pos += length
                minCount = lo; maxCount = hi
            default: return node
            }
            var greedy = true
            if peek() == "?" { pos += 1; greedy = false }
            else if peek() == "+" { throw error("possessive quantifiers are not supported") }
            node = .repetition(node, min: minCount, max: maxCount, greedy: greedy)
        }
        return node
    }

    /// Parses "{n}", "{n,}" or "{n,m}" at pos without consuming; nil when not a quantifier.
    func parseBraces() -> (Int, Int?, Int)? {
        var i = pos + 1
        var first = "", second = ""
        var sawComma = false
        while i < scalars.count, scalars[i] != "}" {
            let c = scalars[i]
            if c == "," { if sawComma { return nil }; sawComma = true }
            else if c.properties.numericType == .decimal, c.isASCII { if sawComma { second.unicodeScalars.append(c) } else { first.unicodeScalars.append(c) } }
            else { return nil }
            i += 1
        }
        guard i < scalars.count, let lo = Int(first) else { return nil }
        let hi: Int? = sawComma ? (second.isEmpty ? nil : Int(second)) : lo
        return (lo, hi, i - pos + 1)
    }

    mutating func parseAtom() throws -> RegexNode? {
        let c = scalars[pos]
        switch c {
        case "(":
            pos += 1
            if peek() == "?" {
                pos += 1
                guard let kind = peek() else { throw error("unterminated group") }
                switch kind {
                case ":":
                    pos += 1
                    return try groupBody()
                case "=", "!":
                    pos += 1
                    let inner = try groupBody()
                    return .lookahead(inner, negative: kind == "!")
                case "i":
                    pos += 1
                    if peek() == ")" {  // (?i) for the rest of the enclosing group
                        pos += 1
                        caseless = true
                        return nil
                    }
                    guard peek() == ":" else { throw error("unsupported group flag") }
                    pos += 1
                    let saved = caseless
                    caseless = true
                    defer { caseless = saved }
                    return try groupBody()
                default:
                    throw error("unsupported group syntax (?\(kind)")
                }
            }
            return try groupBody()
        case ")": throw error("unbalanced ')'")
        case "[": return .set(try parseClass())
        case ".": pos += 1; return .any
        case "^": pos += 1; return .start
        case "$": pos += 1; return .end
        case "\\":
            pos += 1
            return try parseEscape(inClass: false).node(in: &self)
        default:
            pos += 1
            return literal(c.value)
        }
    }

    mutating func groupBody() throws -> RegexNode {
        let node = try parseAlternation()
        guard peek() == ")" else { throw error("missing ')'") }
        pos += 1
        return node
    }

    func literal(_ v: UInt32) -> RegexNode { .scalar(v, caseless: caseless) }

    enum Escape {
        case scalar(UInt32)
        case category(CategoryClass, negated: Bool)

        func node(in parser: inout RegexParser) -> RegexNode {
            switch self {
            case .scalar(let v): return parser.literal(v)
            case .category(let c, let negated):
                var set = ScalarSet()
                if negated { set.negatedCategories = [c] } else { set.categories = [c] }
                return .set(parser.addSet(set))
            }
        }
    }

    mutating func addSet(_ set: ScalarSet) -> Int {
        var s = set
        s.finalize()
        sets.append(s)
        return sets.count - 1
    }

    /// After a backslash.
    mutating func parseEscape(inClass: Bool) throws -> Escape {
        guard let c = peek() else { throw error("trailing backslash") }
        pos += 1
        switch c {
        case "n": return .scalar(0x0A)
        case "r": return .scalar(0x0D)
        case "t": return .scalar(0x09)
        case "f": return .scalar(0x0C)
        case "v": return .scalar(0x0B)
        case "e": return .scalar(0x1B)
        case "a": return .scalar(0x07)
        case "0": return .scalar(0)
        case "s": return .category(.whitespace, negated: false)
        case "S": return .category(.whitespace, negated: true)
        case "d": return .category(.digit, negated: false)
        case "D": return .category(.digit, negated: true)
        case "w": return .category(.word, negated: false)
        case "W": return .category(.word, negated: true)
        case "p", "P":
            var name = ""
            if peek() == "{" {
                pos += 1
                while let n = peek(), n != "}" { name.unicodeScalars.append(n); pos += 1 }
                guard peek() == "}" else { throw error("unterminated \\p{") }
                pos += 1
            } else if let n = peek() {
                name = String(n); pos += 1
            }
            var negated = c == "P"
            if name.hasPrefix("^") { negated.toggle(); name.removeFirst() }
            guard let cats = CategoryClass.generalCategories(named: name) else {
                throw error("unsupported Unicode property \\p{\(name)}")
            }
            return .category(.general(cats), negated: negated)
        case "x", "u":
            var hex = ""
            if peek() == "{" {
                pos += 1
                while let n = peek(), n != "}" { hex.unicodeScalars.append(n); pos += 1 }
                pos += 1
            } else {
                let digits = c == "x" ? 2 : 4
                for _ in 0..<digits { if let n = peek() { hex.unicodeScalars.append(n); pos += 1 } }
            }
            guard let v = UInt32(hex, radix: 16), Unicode.Scalar(v) != nil else { throw error("bad escape \\\(c)\(hex)") }
            return .scalar(v)
        default:
            if c.properties.isAlphabetic || c.properties.numericType != nil {
                throw error("unsupported escape \\\(c)")
            }
            return .scalar(c.value)  // escaped punctuation or space
        }
    }

    mutating func parseClass() throws -> Int {
        pos += 1  // [
        var set = ScalarSet()
        if peek() == "^" { set.negated = true; pos += 1 }
        var first = true
        while let c = peek(), c != "]" || first {
            first = false
            var low: UInt32
            if c == "\\" {
                pos += 1
                switch try parseEscape(inClass: true) {
                case .category(let cat, let negated):
                    if negated { set.negatedCategories.append(cat) } else { set.categories.append(cat) }
                    continue
                case .scalar(let v): low = v
                }
            } else if c == "[" {
                throw error("nested character classes are not supported")
            } else {
                pos += 1
                low = c.value
            }
            if peek() == "-", let next = peek(1), next != "]" {
                pos += 1
                var high: UInt32
                if next == "\\" {
                    pos += 1
                    guard case .scalar(let v) = try parseEscape(inClass: true) else { throw error("bad class range") }
                    high = v
                } else {
                    pos += 1
                    high = next.value
                }
                guard low <= high else { throw error("bad class range") }
                set.ranges.append(low...high)
            } else {
                set.ranges.append(low...low)
            }
            if caseless { addCaseVariants(&set) }
        }
        guard peek() == "]" else { throw error("unterminated character class") }
        pos += 1
        return addSet(set)
    }

    func addCaseVariants(_ set: inout ScalarSet) {
        guard let last = set.ranges.last, last.count == 1, let s = Unicode.Scalar(last.lowerBound) else { return }
        for v in RegexParser.caseVariants(s) where v != last.lowerBound { set.ranges.append(v...v) }
    }

    /// Simple case folding: the scalar, its single-scalar upper and lower case, and
    /// the extra folds that matter for contraction patterns (ſ ~ s, K ~ k).
    static func caseVariants(_ s: Unicode.Scalar) -> [UInt32] {
        var out: Set<UInt32> = [s.value]
        for mapped in [s.properties.lowercaseMapping, s.properties.uppercaseMapping] {
            let u = mapped.unicodeScalars
            if u.count == 1 { out.insert(u.first!.value) }
        }
        switch s.value {
        case 0x73, 0x53: out.insert(0x17F)          // s S ſ
        case 0x17F: out.formUnion([0x73, 0x53])
        case 0x6B, 0x4B: out.insert(0x212A)         // k K Kelvin sign
        case 0x212A: out.formUnion([0x6B, 0x4B])
        default: break
        }
        return out.sorted()
    }
}

struct RegexCompiler {
    var program: [Instruction] = []

    mutating func emit(_ node: RegexNode) {
        switch node {
        case .scalar(let v, let caseless):
            if caseless, let s = Unicode.Scalar(v) {
                let variants = RegexParser.caseVariants(s)
                program.append(variants.count == 1 ? .scalar(v) : .scalarCaseless(variants))
            } else {
                program.append(.scalar(v))
            }
        case .set(let i): program.append(.set(i))
        case .any: program.append(.anyButNewline)
        case .start: program.append(.assertStart)
        case .end: program.append(.assertEnd)
        case .sequence(let items): items.forEach { emit($0) }
        case .alternation(let branches):
            // split L1, next; L1: branch0; jump end; next: split L2, ... last branch
            var jumps: [Int] = []
            for (i, branch) in branches.enumerated() {
                if i < branches.count - 1 {
                    let split = program.count
                    program.append(.split(0, 0))
                    emit(branch)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    emit(branch)
                }
            }
            for j in jumps { program[j] = .jump(program.count) }
        case .repetition(let inner, let minCount, let maxCount, let greedy):
            for _ in 0..<minCount { emit(inner) }
            if let maxCount {
                // Up to (max − min) optional copies, each guarded by a split.
                var pending: [Int] = []
                for _ in 0..<(maxCount - minCount) {
                    pending.append(program.count)
                    program.append(.split(0, 0))
                    emit(inner)
                }
                let end = program.count
                for p in pending { program[p] = greedy ? .split(p + 1, end) : .split(end, p + 1) }
            } else {
                // loop: split body, end; body; jump loop
                let loop = program.count
                program.append(.split(0, 0))
                emit(inner)
                program.append(.jump(loop))
                let end = program.count
                program[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
            }
        case .lookahead(let inner, let negative):
            let at = program.count
            program.append(.lookahead(negative: negative, body: 0, next: 0))
            let body = program.count
            emit(inner)
            program.append(.match)
            program[at] = .lookahead(negative: negative, body: body, next: program.count)
        }
    }
}
