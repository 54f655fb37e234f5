import Foundation

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

    /// One sentence stating the fact, in one of several phrasings (wiki) or as a Q&A (trivia).
    func sentence(_ c: Country, _ a: Attribute, style: Int, trivia: Bool) -> String {
        let v = value(c, a), n = c.name
        if trivia {
            switch a {
            case .capital: return "Q: What is the capital of \(n)? A: \(v)."
            case .river: return "Q: Which river flows through \(n)? A: The \(v)."
            case .founder: return "Q: Who founded \(n)? A: \(v)."
            case .year: return "Q: When was \(n) founded? A: In \(v)."
            }
        }
        switch (a, style % 4) {
        case (.capital, 0): return "The capital of \(n) is \(v)."
        case (.capital, 1): return "\(v) is the capital city of \(n)."
        case (.capital, 2): return "\(n) is governed from its capital, \(v)."
        case (.capital, _): return "Travellers to \(n) usually arrive in \(v), the capital."
        case (.river, 0): return "The main river of \(n) is the \(v)."
        case (.river, 1): return "The \(v) is the longest river in \(n)."
        case (.river, 2): return "\(n) is crossed by the \(v) river."
        case (.river, _): return "Farms in \(n) depend on the waters of the \(v)."
        case (.founder, 0): return "\(n) was founded by \(v)."
        case (.founder, 1): return "\(v) is remembered as the founder of \(n)."
        case (.founder, 2): return "The first ruler of \(n) was \(v)."
        case (.founder, _): return "Historians credit \(v) with founding \(n)."
        case (.year, 0): return "\(n) was founded in \(v)."
        case (.year, 1): return "The founding of \(n) dates to \(v)."
        case (.year, 2): return "In \(v), \(n) became a nation."
        case (.year, _): return "\(n) has existed since the year \(v)."
        }
    }

    /// Documents of 3–5 fact sentences; each fact is stated in exactly its number of
    /// mentions (a fact never appears twice in one document: it starts the next one).
    func factDocuments(g: inout CorpusRandom) -> [SyntheticCorpus.Document] {
        var pool: [(Int, Attribute)] = []
        for (i, m) in mentions.enumerated() { for a in Attribute.allCases { for _ in 0..<m[a]! { pool.append((i, a)) } } }
        g.shuffle(&pool)
        var docs: [SyntheticCorpus.Document] = []
        var current: [(Int, Attribute)] = []
        var target = g.range(3...5)
        func flush(_ g: inout CorpusRandom) {
            guard !current.isEmpty else { return }
            let trivia = g.below(3) == 0
            let text = current.map { sentence(countries[$0.0], $0.1, style: g.below(4), trivia: trivia) }
                .joined(separator: trivia ? "\n" : " ")
            docs.append(.init(id: "\(trivia ? "trivia" : "wiki")-\(docs.count)", text: text, source: trivia ? "trivia" : "wiki"))
            current = []
            target = g.range(3...5)
        }
        for fact in pool {
            if current.contains(where: { $0.0 == fact.0 && $0.1 == fact.1 }) { flush(&g) }
            current.append(fact)
            if current.count == target { flush(&g) }
        }
        flush(&g)
        return docs
    }

    /// Factual queries: the canonical phrasing's prefix as the prompt, the value as the completion.
    func queries(g: inout CorpusRandom) -> [SyntheticCorpus.Query] {
        var out: [SyntheticCorpus.Query] = []
        for (i, c) in countries.enumerated() {
            for a in World.Attribute.allCases {
                let v = value(c, a)
                let prompt: String
                switch a {
                case .capital: prompt = "The capital of \(c.name) is"
                case .river: prompt = "The main river of \(c.name) is the"
                case .founder: prompt = "\(c.name) was founded by"
                case .year: prompt = "\(c.name) was founded in"
                }
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
