import Foundation
import Model

/// Fictional countries with a capital, a river, a founder and a founding year.
struct World {
    struct Country { var name: String; var capital: String; var river: String; var founder: String; var year: Int }
    enum Attribute: String, CaseIterable { case capital, river, founder, year }

    let countries: [Country]
    /// Mentions (documents stating the fact) per country index and attribute.
    let mentions: [[Attribute: Int]]

    static let onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "th", "tr"]
    static let vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io"]
    static let codas = ["", "", "", "n", "r", "l", "s", "th", "m"]
    static let givenNames = ["Ilsa", "Toren", "Mira", "Castor", "Wenna", "Orrin", "Dalia", "Fennick", "Sela", "Bram",
                             "Noor", "Pell", "Ysolde", "Garran", "Tamsin", "Edric", "Liora", "Quill", "Hesper", "Rook"]

    static func name(_ g: inout CorpusRandom, syllables: Int) -> String {
        var s = ""
        for _ in 0..<syllables { s += g.pick(onsets) + g.pick(vowels) }
        s += g.pick(codas)
        return s.prefix(1).uppercased() + s.dropFirst()
    }

    init(g: inout CorpusRandom, countries count: Int) {
        var used = Set<String>()
        func unique(_ syllables: Int, suffix: String = "") -> String {
            while true {
                let n = World.name(&g, syllables: syllables) + suffix
                if used.insert(n).inserted { return n }
            }
        }
        var list: [Country] = []
        var m: [[Attribute: Int]] = []
        for _ in 0..<count {
            list.append(Country(name: unique(2, suffix: g.pick(["ia", "and", "or", "ea", "istan"])), capital: unique(2),
                                river: unique(2), founder: g.pick(World.givenNames) + " " + unique(2), year: g.range(1000...1899)))
            var k: [Attribute: Int] = [:]
            for a in Attribute.allCases { k[a] = g.range(1...5) }
            m.append(k)
        }
        countries = list
        mentions = m
    }

    func value(_ c: Country, _ a: Attribute) -> String {
        switch a {
        case .capital: return c.capital
        case .river: return c.river
        case .founder: return c.founder
        case .year: return String(c.year)
        }
    }

    /// How one mention of a fact is phrased: the canonical sentence (the factual query's
    /// prompt followed by the value), one of three other sentences, or a trivia Q&A.
    /// Every phrasing names the country before the value, so each one teaches
    /// "country → value", the direction the queries ask in.
    enum Phrasing { case canonical, variant(Int), trivia }

    /// One sentence stating the fact.
    func sentence(_ c: Country, _ a: Attribute, _ phrasing: Phrasing) -> String {
        let v = value(c, a), n = c.name
        switch phrasing {
        case .canonical:
            return "\(World.queryPrompt(n, a)) \(v)."
        case .trivia:
            switch a {
            case .capital: return "Q: What is the capital of \(n)? A: \(v)."
            case .river: return "Q: Which river flows through \(n)? A: The \(v)."
            case .founder: return "Q: Who founded \(n)? A: \(v)."
            case .year: return "Q: When was \(n) founded? A: In \(v)."
            }
        case .variant(let k):
            switch (a, k) {
            case (.capital, 0): return "\(n) is governed from its capital, \(v)."
            case (.capital, 1): return "Travellers to \(n) usually arrive in its capital city, \(v)."
            case (.capital, _): return "The seat of government of \(n) is \(v)."
            case (.river, 0): return "\(n) is crossed by the \(v) river."
            case (.river, 1): return "Farms in \(n) depend on the waters of the \(v)."
            case (.river, _): return "The longest river in \(n) is the \(v)."
            case (.founder, 0): return "The first ruler of \(n) was \(v)."
            case (.founder, 1): return "Historians say that \(n) was founded by \(v)."
            case (.founder, _): return "\(n) was founded by \(v)."
            case (.year, 0): return "The founding of \(n) dates to \(v)."
            case (.year, 1): return "\(n) has existed since the year \(v)."
            case (.year, _): return "Historians say that \(n) was founded in \(v)."
            }
        }
    }

    /// The factual query's prompt: the canonical sentence up to the value. The country is
    /// never the first word: a byte-level BPE splits a word at the start of a text
    /// differently from the same word after a space, as it appears inside documents.
    static func queryPrompt(_ country: String, _ a: Attribute) -> String {
        switch a {
        case .capital: return "The capital of \(country) is"
        case .river: return "The main river of \(country) is the"
        case .founder: return "The founder of \(country) was"
        case .year: return "The founding year of \(country) is"
        }
    }

    /// Documents of 3–5 fact sentences, `wiki` prose or `trivia` Q&A. Each fact is stated in
    /// exactly its number of mentions: the first mention in the canonical phrasing, the
    /// others as another sentence or (one in three) as a Q&A. A fact never appears twice in
    /// one document: it starts the next one.
    func factDocuments(g: inout CorpusRandom) -> [SyntheticCorpus.Document] {
        var prose: [(Int, Attribute, Phrasing)] = [], qa: [(Int, Attribute, Phrasing)] = []
        for (i, m) in mentions.enumerated() {
            for a in Attribute.allCases {
                prose.append((i, a, .canonical))
                for _ in 1..<m[a]! {
                    if g.below(3) == 0 { qa.append((i, a, .trivia)) } else { prose.append((i, a, .variant(g.below(3)))) }
                }
            }
        }
        var docs: [SyntheticCorpus.Document] = []
        for (pool, source) in [(prose, "wiki"), (qa, "trivia")] {
            var pool = pool
            g.shuffle(&pool)
            var current: [(Int, Attribute, Phrasing)] = []
            var target = g.range(3...5)
            func flush(_ g: inout CorpusRandom) {
                guard !current.isEmpty else { return }
                let text = current.map { sentence(countries[$0.0], $0.1, $0.2) }.joined(separator: source == "trivia" ? "\n" : " ")
                docs.append(.init(id: "\(source)-\(docs.count)", text: text, source: source))
                current = []
                target = g.range(3...5)
            }
            for fact in pool {
                if current.contains(where: { $0.0 == fact.0 && $0.1 == fact.1 }) { flush(&g) }
                current.append(fact)
                if current.count == target { flush(&g) }
            }
            flush(&g)
        }
        return docs
    }

    /// Factual queries: the canonical phrasing's prefix as the prompt, the value as the completion.
    func queries(g: inout CorpusRandom) -> [Query] {
        var out: [Query] = []
        for (i, c) in countries.enumerated() {
            for a in World.Attribute.allCases {
                let v = value(c, a)
                let prompt = World.queryPrompt(c.name, a)
                out.append(.init(id: "fact-\(i)-\(a.rawValue)", prompt: prompt, completion: " \(v).", answer: v,
                                 task: "fact_\(a.rawValue)", mentions: mentions[i][a]))
            }
        }
        return out
    }

    /// A short filler story.
    func story(g: inout CorpusRandom) -> String {
        let c = g.pick(countries)
        let who = g.pick(World.givenNames), friend = g.pick(World.givenNames)
        let openings = ["One morning", "Late in the autumn", "On a quiet day", "After the long rain"]
        let actions = ["walked along the \(c.river)", "visited the market in \(c.capital)", "wrote a letter to \(friend)",
                       "repaired an old boat", "painted the gate blue", "counted the sheep twice"]
        let endings = ["It was a good day.", "\(friend) laughed at the news.", "Nobody noticed the change.",
                       "The evening was calm.", "They agreed to meet again soon."]
        var parts = ["\(g.pick(openings)), \(who) \(g.pick(actions))."]
        for _ in 0..<g.range(1...3) { parts.append("Then \(who) \(g.pick(actions)).") }
        parts.append(g.pick(endings))
        return parts.joined(separator: " ")
    }
}
