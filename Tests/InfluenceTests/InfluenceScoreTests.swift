import Foundation
import Influence
import Model
import XCTest
import Corpus
import Tokenizers

/// The score identities of docs/influence.md on the embedded model and a handful of
/// documents from the shipped corpus sample.
final class InfluenceScoreTests: XCTestCase {
    static let model = try! TransformerModel.load(directory: DefaultModel.directory)
    static let tokenizer = try! Tokenizer.load(modelDirectory: DefaultModel.directory)
    static let sample = (DefaultModel.dataDirectory as NSString).appendingPathComponent("corpus-sample.jsonl")

    /// The first `n` sample documents as their own corpus file.
    func corpus(_ n: Int, in dir: String) throws -> String {
        let lines = try String(contentsOfFile: Self.sample, encoding: .utf8).split(separator: "\n").prefix(n)
        let path = dir + "/docs.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "influence-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    let queries = [
        Query(id: "q0", prompt: "Compute 12 + 30 - 5.", completion: " First, 12 + 30 = 42. Then, 42 - 5 = 37. The answer is 37."),
        Query(id: "q1", prompt: "The capital of Favemia is", completion: " Kiostair."),
    ]

    func fit(_ docs: String, fisher: EKFACFactors.Fisher = .empirical) throws -> EKFACFactors {
        var options = EKFACFactors.Options()
        options.fisher = fisher
        options.maxLength = 64
        return try EKFACFactors.fit(model: Self.model, tokenizer: Self.tokenizer, documents: DocumentStream(path: docs, requireIDs: true),
                                    modules: TrackedModule.select("mlp", model: Self.model), options: options)
    }

    /// Σ over tracked weights of ∇W CE(query completion) · ∇W CE(document), from the
    /// backward pass's own weight gradients (not the per-linear tap).
    func plainDotProduct(query: Query, document: String) throws -> Double {
        func gradients(_ tokens: [Int], from: Int) throws -> ModelWeights {
            let m = Self.model
            let record = ForwardRecord()
            let out = try m.forward(TokenBatch(tokens), logits: .all, record: record)
            var labels = [Int?](repeating: nil, count: tokens.count)
            for t in from..<(tokens.count - 1) { labels[t] = tokens[t + 1] }
            let grads = m.weights.zerosLike()
            try m.backward(record, logitGradient: CrossEntropy.lossAndGradient(logits: out.logits!, labels: labels).gradient,
                       options: BackwardOptions(weightGradients: grads))
            return grads
        }
        let (qTokens, promptCount) = query.tokens(Self.tokenizer)
        let gq = try gradients(qTokens, from: promptCount - 1)
        let gd = try gradients(Array(Self.tokenizer.encode(document).prefix(64)), from: 0)
        var total: Double = 0
        for l in 0..<Self.model.config.layerCount {
            for site in [LinearSite.gate, .up, .down] {
                let a = gq.blocks[l].linear(site).weight, b = gd.blocks[l].linear(site).weight
                for i in 0..<a.count { total += Double(a.data[i]) * Double(b.data[i]) }
            }
        }
        return total
    }

    func testIdentityStrategyIsThePlainGradientDotProduct() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(3, in: dir)
        let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: fit(docs), queries: queries,
                                         identity: true, maxLength: 64)
        try DocumentStream(path: docs, requireIDs: true).forEach { doc in
            let s = try scorer.score(doc)
            for (q, query) in queries.enumerated() {
                let direct = try plainDotProduct(query: query, document: doc.text)
                XCTAssertEqual(Double(s.total[q]), direct, accuracy: 1e-3 * max(abs(direct), 1), "\(query.id) × \(doc.id)")
            }
            return true
        }
    }

    /// --query-tokens: a file mask of every token gives the default scores exactly; the scores
    /// are linear in the query's loss, so the answer's and the procedure's and the remaining
    /// (digit) tokens' scores add up to the scores of all tokens; the masks follow the answer.
    func testQueryTokenMasksSplitTheScoreExactly() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(3, in: dir)
        let factors = try fit(docs)
        let arithmetic = [Query(id: "q0", prompt: "Compute 12 + 30 - 5.", completion: " First, 12 + 30 = 42. Then, 42 - 5 = 37. The answer is 37.",
                                answer: "37")]
        func scores(_ selection: QueryTokenSelection) throws -> (InfluenceScorer, [Float]) {
            let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: factors, queries: arithmetic,
                                             maxLength: 64, queryTokens: selection)
            var totals: [Float] = []
            try DocumentStream(path: docs, requireIDs: true).forEach { totals.append(try scorer.score($0).total[0]); return true }
            return (scorer, totals)
        }
        let (allScorer, all) = try scores(.all)
        let n = allScorer.queryTokenMasks[0].count
        let everyToken = dir + "/every.jsonl"
        try "{\"id\": \"q0\", \"mask\": [\(Array(repeating: "1", count: n).joined(separator: ", "))]}\n".write(toFile: everyToken, atomically: true, encoding: .utf8)
        XCTAssertEqual(try scores(.parse(everyToken)).1, all)
        let (answerScorer, answer) = try scores(.answer)
        let (procedureScorer, procedure) = try scores(.procedure)
        let answerMask = answerScorer.queryTokenMasks[0], procedureMask = procedureScorer.queryTokenMasks[0]
        let completion = Array(arithmetic[0].tokens(Self.tokenizer).tokens.dropFirst(arithmetic[0].tokens(Self.tokenizer).promptCount))
        XCTAssertEqual(Self.tokenizer.decode(zip(completion, answerMask).filter(\.1).map(\.0)), "37")
        XCTAssertFalse(zip(answerMask, procedureMask).contains { $0 && $1 })
        XCTAssertFalse(Self.tokenizer.decode(zip(completion, procedureMask).filter(\.1).map(\.0)).contains(where: \.isNumber))
        let rest = dir + "/rest.jsonl"
        let restMask = zip(answerMask, procedureMask).map { !$0 && !$1 ? "1" : "0" }
        try "{\"id\": \"q0\", \"mask\": [\(restMask.joined(separator: ", "))]}\n".write(toFile: rest, atomically: true, encoding: .utf8)
        let remainder = try scores(.parse(rest)).1
        for d in all.indices {
            XCTAssertEqual(answer[d] + procedure[d] + remainder[d], all[d], accuracy: 1e-3 * max(abs(all[d]), abs(answer[d]), abs(procedure[d]), abs(remainder[d])))
        }
        XCTAssertLessThan(answerScorer.queryNLL[0], allScorer.queryNLL[0])
        // A mask of the wrong length and an answer missing from the completion are refused.
        try "{\"id\": \"q0\", \"mask\": [1]}\n".write(toFile: rest, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try scores(.parse(rest))) { XCTAssertTrue("\($0)".contains("has 1 values for"), "\($0)") }
        let wrong = [Query(id: "q1", prompt: "Compute 1 + 1.", completion: " It is 2.", answer: "3")]
        XCTAssertThrowsError(try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: factors, queries: wrong, maxLength: 64,
                                                 queryTokens: .answer)) { XCTAssertTrue("\($0)".contains("does not appear in its completion"), "\($0)") }
    }

    func testPerModuleAndPerTokenScoresSumToTheTotal() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(4, in: dir)
        let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: fit(docs), queries: queries, maxLength: 64)
        try DocumentStream(path: docs, requireIDs: true).forEach { doc in
            let s = try scorer.score(doc, perModule: true, perToken: true)
            for q in queries.indices {
                let scale = max(abs(s.total[q]), s.perModule!.map { abs($0[q]) }.max()!)
                XCTAssertEqual(s.perModule!.reduce(0) { $0 + $1[q] }, s.total[q], accuracy: 1e-4 * scale)
                XCTAssertEqual(s.perToken![q].reduce(0, +), s.total[q], accuracy: 1e-3 * scale)
            }
            return true
        }
    }

    /// With each document also a query (prompt = its first word), the pairwise matrix's
    /// diagonal is the self-influence.
    func testSelfInfluenceIsTheDiagonal() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(4, in: dir)
        let factors = try fit(docs)
        var asQueries: [Query] = []
        var documents: [Document] = []
        try DocumentStream(path: docs, requireIDs: true).forEach { doc in
            let cut = doc.text.firstIndex(of: " ")!
            let q = Query(id: doc.id, prompt: String(doc.text[..<cut]), completion: String(doc.text[cut...]))
            let (tokens, _) = q.tokens(Self.tokenizer)
            XCTAssertEqual(tokens, Self.tokenizer.encode(doc.text), "the split must not change the tokens")
            asQueries.append(q); documents.append(doc)
            return true
        }
        let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: factors, queries: asQueries, maxLength: 512)
        let capture = GradientCapture(model: Self.model, modules: factors.modules.map(\.module))
        for (i, doc) in documents.enumerated() {
            let pairwise = try scorer.score(doc).total[i]
            let own = try InfluenceScorer.selfInfluence(doc, capture: capture, factors: factors, dampings: scorer.dampings,
                                                        tokenizer: Self.tokenizer, maxLength: 512)
            XCTAssertEqual(pairwise, own, accuracy: 1e-4 * abs(own))
            XCTAssertGreaterThan(own, 0)
        }
    }

    /// Shards merged = one run, bit for bit; an interrupted run resumes to the same bits.
    func testShardsAndResumeGiveIdenticalScores() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(7, in: dir)
        let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: fit(docs), queries: queries, maxLength: 64)
        let stream = try DocumentStream(path: docs, requireIDs: true)
        func table(_ result: ScoreRun.Result, shard: String) -> ScoreTable {
            ScoreTable(result: result, scorer: scorer, normalization: .nll,
                       attributes: ["shard": shard, "doc_start": "\(result.start)", "documents_in_corpus": "7"], top: 3)
        }
        var whole = ScoreRun()
        whole.perModule = true
        whole.batchSize = 2
        let single = try whole.run(scorer: scorer, documents: stream, partialPath: dir + "/a.partial.h5", runKey: "k")
        var paths: [String] = []
        for i in 0..<3 {
            var run = whole
            run.shardIndex = i; run.shardCount = 3
            let r = try run.run(scorer: scorer, documents: stream, partialPath: dir + "/s\(i).partial.h5", runKey: "k")
            try table(r, shard: "\(i)/3").write(to: dir + "/s\(i).h5", model: nil)
            paths.append(dir + "/s\(i).h5")
        }
        let merged = try ScoreTable.merge(paths.reversed())
        let reference = table(single, shard: "0/1")
        XCTAssertEqual(merged.scores, reference.scores)
        XCTAssertEqual(merged.perModule!, reference.perModule!)
        XCTAssertEqual(merged.documentIDs, reference.documentIDs)
        XCTAssertEqual(merged.topDocuments(3).indices, reference.topDocuments(3).indices)

        // Batches of 2: the same numbers as one document at a time, to rounding.
        for (d, doc) in try documentsOf(stream).enumerated() {
            let alone = try scorer.score(doc).total
            for q in queries.indices { XCTAssertEqual(alone[q], single.total[d][q], accuracy: 1e-5 * max(abs(alone[q]), 1)) }
        }

        // Interrupt after 4 documents (checkpointing after each batch), then resume.
        struct Interrupted: Error {}
        var run = whole
        run.checkpointInterval = 0
        XCTAssertThrowsError(try run.run(scorer: scorer, documents: stream, partialPath: dir + "/b.partial.h5", runKey: "k") { done, _ in
            if done == 4 { throw Interrupted() }
        } as ScoreRun.Result)
        var resumedCount = 0
        let resumed = try run.run(scorer: scorer, documents: stream, partialPath: dir + "/b.partial.h5", runKey: "k") { _, _ in resumedCount += 1 }
        XCTAssertEqual(resumedCount, 2, "only the batches after the checkpoint are scored again")
        XCTAssertEqual(resumed.total, single.total)
        XCTAssertEqual(resumed.perModule!, single.perModule!)
        XCTAssertThrowsError(try run.run(scorer: scorer, documents: stream, partialPath: dir + "/b.partial.h5", runKey: "other"))
    }

    func documentsOf(_ stream: DocumentStream) throws -> [Document] {
        var all: [Document] = []
        try stream.forEach { all.append($0); return true }
        return all
    }

    /// Rank-r queries approach the full-rank scores as r grows and equal them at full rank.
    func testLowRankQueriesApproachFullRank() throws {
        let dir = try temporaryDirectory()
        let docs = try corpus(4, in: dir)
        let factors = try fit(docs)
        func scores(_ rank: Int?) throws -> [Float] {
            let scorer = try InfluenceScorer(model: Self.model, tokenizer: Self.tokenizer, factors: factors, queries: queries,
                                             queryRank: rank, maxLength: 64)
            var all: [Float] = []
            try DocumentStream(path: docs, requireIDs: true).forEach { all += try scorer.score($0).total; return true }
            return all
        }
        let full = try scores(nil)
        let norm = full.map { $0 * $0 }.reduce(0, +).squareRoot()
        var errors: [Float] = []
        for rank in [1, 4, 32, 256] {
            let approx = try scores(rank)
            errors.append(zip(approx, full).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() / norm)
        }
        // The truncation error of the preconditioned query gradient falls with the rank; the
        // error of a handful of scores need not fall at every step (a rank-1 query can land
        // closer to a few documents than a rank-4 one), so compare the small ranks with a large one.
        XCTAssertLessThan(errors[2], min(errors[0], errors[1]), "errors by rank: \(errors)")
        XCTAssertLessThan(errors.last!, 1e-4, "rank 256 = min(in, out) is exact")
    }
}
