import Foundation
import Model

/// A pretraining corpus built for the procedural-knowledge analysis (methods.md §3):
/// facts about fictional countries, each stated in a known number of documents
/// among other facts; worked procedures (two-step arithmetic, slopes, linear
/// equations) as prose, maths, code and Q&A; and filler narrative. Queries about
/// the facts and the procedures, and a held-out set of word problems for RL, come
/// with it. Everything is a function of the seed.
public struct SyntheticCorpus {
    public struct Document: Codable, Sendable { public var id: String; public var text: String; public var source: String }

    public var documents: [Document] = []
    public var factualQueries: [Query] = []
    public var reasoningQueries: [Query] = []
    public var rlTrain: [Query] = []
    public var rlTest: [Query] = []

    public struct Settings: Sendable {
        public var countries = 240
        public var procedureDocuments = 9000
        public var narrativeDocuments = 1200
        public var reasoningQueriesPerTask = 20
        public var rlTrain = 400
        public var rlTest = 200
        public init() {}
    }

    public init(seed: UInt64, settings: Settings = Settings()) {
        var g = CorpusRandom(seed: seed)
        let world = World(g: &g, countries: settings.countries)
        documents += world.factDocuments(g: &g)
        factualQueries = world.queries(g: &g)

        // Problems held out of the corpus: reasoning queries and RL problems.
        var reserved = Set<String>()
        for task in Procedure.allCases {
            for i in 0..<settings.reasoningQueriesPerTask {
                let p = task.draw(&g)
                reserved.insert(p.key)
                reasoningQueries.append(Query(id: "\(task.rawValue)-\(i)", prompt: p.question, completion: " " + p.steps,
                                              answer: p.answer, task: task.rawValue, mentions: nil))
            }
        }
        for split in 0..<2 {
            let count = split == 0 ? settings.rlTrain : settings.rlTest
            for i in 0..<count {
                var p = WordProblem.draw(&g)
                while reserved.contains(p.key) { p = WordProblem.draw(&g) }
                reserved.insert(p.key)
                let problem = Query(id: "\(split == 0 ? "train" : "test")-\(i)", prompt: p.question, answer: p.answer, task: "word_problem")
                if split == 0 { rlTrain.append(problem) } else { rlTest.append(problem) }
            }
        }
        var n = 0
        while n < settings.procedureDocuments {
            let roll = g.below(10)
            if roll < 2 {
                var p = WordProblem.draw(&g)
                while reserved.contains(p.key) { p = WordProblem.draw(&g) }
                documents.append(Document(id: "math-\(n)", text: p.question + " " + p.solution, source: "math"))
            } else {
                let task = Procedure.allCases[g.below(Procedure.allCases.count)]
                var p = task.draw(&g)
                while reserved.contains(p.key) { p = task.draw(&g) }
                let (text, source) = p.render(style: g.below(4), g: &g)
                documents.append(Document(id: "\(source)-\(n)", text: text, source: source))
            }
            n += 1
        }
        for i in 0..<settings.narrativeDocuments {
            documents.append(Document(id: "narrative-\(i)", text: world.story(g: &g), source: "narrative"))
        }
        // Interleave sources deterministically.
        g.shuffle(&documents)
    }

    /// Writes corpus/shard-NNN.jsonl, queries/factual.jsonl, queries/reasoning.jsonl,
    /// rl/train.jsonl and rl/test.jsonl under `directory`.
    public func write(to directory: String, shardSize: Int = 2000) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func lines<T: Encodable>(_ items: [T]) throws -> Data {
            var data = Data()
            for item in items { data.append(try enc.encode(item)); data.append(0x0A) }
            return data
        }
        let path = { (p: String) in (directory as NSString).appendingPathComponent(p) }
        for (i, start) in stride(from: 0, to: documents.count, by: shardSize).enumerated() {
            let shard = Array(documents[start..<min(documents.count, start + shardSize)])
            try writeFileAtomically(try lines(shard), to: path(String(format: "corpus/shard-%03d.jsonl", i)))
        }
        try writeFileAtomically(try lines(factualQueries), to: path("queries/factual.jsonl"))
        try writeFileAtomically(try lines(reasoningQueries), to: path("queries/reasoning.jsonl"))
        try writeFileAtomically(try lines(rlTrain), to: path("rl/train.jsonl"))
        try writeFileAtomically(try lines(rlTest), to: path("rl/test.jsonl"))
    }
}

/// The corpus's random source: the runtime's seeded generator, drawn from as
/// `SeededGenerator.below(_:)` does.
struct CorpusRandom {
    var rng: SeededGenerator
    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }
    mutating func below(_ n: Int) -> Int { rng.below(n) }
    mutating func range(_ r: ClosedRange<Int>) -> Int { r.lowerBound + below(r.count) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func shuffle<T>(_ a: inout [T]) { rng.shuffle(&a) }
}
