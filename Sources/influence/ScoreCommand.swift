import ArgumentParser
import CLICommon
import Cluster
import Foundation
import Influence
import Model
import Corpus
import Formats

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every document against every query: ∇log p(completion)ᵀ (G + λI)⁻¹ ∇log p(document).",
        discussion: """
        All queries are prepared first (gradients of their completion's log-likelihood, prompt tokens \
        masked, preconditioned with the factors); the corpus is then read once for all of them. \
        Positive = upweighting the document raises the completion's likelihood. The run checkpoints \
        to OUT.partial.h5 and resumes from it after an interruption; --shard i/n scores a slice for \
        `influence merge`. Under mpirun each rank scores its slice (each with its own \
        OUT.partial.RofN.h5 for resuming) and rank 0 writes one file, equal to a single process's.
        """)

    @Option(help: "Queries: .jsonl with \"id\", \"prompt\", \"completion\" per line.") var queries: String
    @Option(help: "Corpus: a directory of .jsonl shards or one .jsonl file.") var docs: String
    @Option(help: "EK-FAC factors from `influence fit` (default: fit first, written to OUT.factors.h5).") var factors: String?
    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).") var model: String?
    @Option(help: "Output HDF5 file.") var out: String
    @Option(help: "λ: a number for every module, or heuristic (0.1 × mean Λ per module, default).") var damping: String = "heuristic"
    @Option(help: "ekfac (default) or identity (no preconditioning: plain gradient dot products).") var strategy: String = "ekfac"
    @Option(help: "Compress each preconditioned query gradient to this rank per module (randomized SVD; the share of each query kept is printed); default full rank.") var queryRank: Int?
    @Option(help: "raw, nll (divided by the query's completion NLL, the paper's choice) or token (per document token).") var normalize: String = "raw"
    @Flag(help: "Also write per-module scores /per_module [M, Q, D].") var perModule = false
    @Flag(help: "Also write per-token scores (which document tokens carry the influence).") var perToken = false
    @Option(help: "Documents listed per query in /top.") var top: Int = 10
    @Option(help: "Completion tokens whose loss forms each query's gradient: all (default), answer (the final answer's tokens), procedure (all but the digits and the answer) or a .jsonl file of {\"id\", \"mask\": [0, 1, ...]} per query.")
    var queryTokens: String = "all"
    @Option(help: "Score only slice i of n of the corpus, e.g. 0/4.") var shard: String = "0/1"
    @Option(help: "Seconds between checkpoints to OUT.partial.h5 (and, when fitting first, OUT.factors.h5.partial.h5).") var checkpointEvery: Double = 30
    @Option(help: "Documents whose gradients go through one GEMM per module (fixed batches of the corpus).") var batchSize: Int = 32
    @OptionGroup var fit: FitOptions

    func run() throws {
        let (m, tokenizer) = try loadModel(model)
        guard let normalization = ScoreNormalization(rawValue: normalize) else { throw WorkbenchError("--normalize: '\(normalize)' is not raw, nll or token") }
        guard strategy == "ekfac" || strategy == "identity" else { throw WorkbenchError("--strategy: '\(strategy)' is not ekfac or identity") }
        let tokenSelection = try QueryTokenSelection.parse(queryTokens)
        let dampingValue: Double? = damping == "heuristic" ? nil : Double(damping)
        guard damping == "heuristic" || (dampingValue.map { $0 >= 0 } ?? false) else {
            throw WorkbenchError("--damping: '\(damping)' is not a non-negative number or heuristic")
        }
        var parts = shard.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else { throw WorkbenchError("--shard: '\(shard)' is not i/n with 0 ≤ i < n") }
        let group = ProcessGroup.world
        if group.isDistributed {
            guard parts == [0, 1] else { throw WorkbenchError("--shard splits a run by hand; under mpirun every rank takes its own slice, so leave --shard out") }
            parts = [group.rank, group.size]
        }
        try checkWritable(out)
        // One run per output at a time: a second would overwrite the first's partial checkpoints.
        if group.isRoot { try OutputLock.acquire(out + ".lock", for: out) }
        guard top >= 1 else { throw WorkbenchError("--top must be at least 1") }
        guard batchSize >= 1 else { throw WorkbenchError("--batch-size must be at least 1") }
        let queryList = try Query.load(queries)

        let stream = try influenceDocuments(docs, skipBad: fit.skipBad)
        let factorPath = factors ?? out + ".factors.h5"
        let fitted: EKFACFactors
        if let factors {
            fitted = try EKFACFactors(path: factors, model: m)
        } else {
            printError("no --factors: fitting first (\(factorPath))")
            fitted = try fitFactors(model: m, tokenizer: tokenizer, docs: docs, fit: fit, out: factorPath, checkpointEvery: checkpointEvery)
        }
        let maxLength = fitted.maxLength
        let start = Date()
        let scorer = try InfluenceScorer(model: m, tokenizer: tokenizer, factors: fitted, queries: queryList,
                                         damping: dampingValue, identity: strategy == "identity",
                                         queryRank: queryRank, maxLength: maxLength, queryTokens: tokenSelection)
        printError(String(format: "prepared %d queries in %.1f s", queryList.count, Date().timeIntervalSince(start)))
        if let retained = scorer.queryRankRetained, let low = retained.min() {
            printError(String(format: "rank %d keeps %.1f%% of the preconditioned queries' squared norm on average (lowest %.1f%%)",
                              queryRank!, 100 * retained.reduce(0, +) / Double(retained.count), 100 * low))
        }

        // Rank 0 reads the factors file it may just have written (other ranks may not see it).
        let factorHash = String(decoding: try group.broadcast(group.isRoot ? Data(try EKFACFactors.fileHash(factorPath).utf8) : Data()),
                                as: UTF8.self)
        let queryBytes = try readFile(queries)
        var key = ContentHash()
        key.update(queryBytes)
        key.update(Data("\(factorHash) \(fitted.modelHash) \(damping) \(strategy) \(perModule) \(perToken) \(parts[0])/\(parts[1]) \(maxLength) \(queryRank.map { "rsvd\($0)" } ?? "0") \(batchSize)".utf8))
        key.update(Data(scorer.queryTokenMasks.map { $0.map { $0 ? "1" : "0" }.joined() }.joined(separator: ",").utf8))

        if group.isDistributed {
            // A rank's slice is whole batches: with fewer batches than ranks some ranks idle.
            let batches = (try stream.catalogue().ids.count + batchSize - 1) / batchSize
            if batches < group.size {
                printError("note: \(batches) batches of --batch-size \(batchSize) for \(group.size) ranks: some ranks have nothing to score; lower --batch-size")
            }
        }
        var run = ScoreRun()
        run.shardIndex = parts[0]; run.shardCount = parts[1]
        run.perModule = perModule; run.perToken = perToken
        run.checkpointInterval = checkpointEvery
        run.batchSize = batchSize
        let partial = try partialFile(for: out, in: group)
        var bar: ProgressLine?
        let result = try run.run(scorer: scorer, documents: stream, partialPath: partial, runKey: key.hex) { done, total in
            if bar == nil { bar = ProgressLine("scoring", total: total) }
            bar!.update(done)
        }
        let attributes: [String: String] = [
            "strategy": strategy, "damping": damping, "factors_hash": factorHash,
            "query_rank": queryRank.map { "\($0)" } ?? "full", "shard": shard,
            "docs_path": absolutePath(docs), "queries_file": absolutePath(queries),
        ]
        guard let joined = try ScoreRun.gather(result, in: group) else {
            // Other ranks: rank 0 writes the file; each rank's partial goes once the file is there.
            try group.barrier()
            try? FileManager.default.removeItem(atPath: partial)
            return
        }
        let table = ScoreTable(result: joined, scorer: scorer, normalization: normalization, attributes: attributes, top: top)
        try table.write(to: out, model: m)
        try group.barrier()
        try? FileManager.default.removeItem(atPath: partial)
        print(String(format: "scored %d documents × %d queries in %.1f s; wrote %@", joined.total.count, queryList.count,
                     Date().timeIntervalSince(start), out))
        let (indices, values) = table.topDocuments(3)
        for (q, query) in queryList.prefix(5).enumerated() {
            let best = zip(indices[q], values[q]).map { "\(table.documentIDs[$0]) (\(String(format: "%.3g", $1)))" }.joined(separator: ", ")
            print("  \(query.id): \(best)")
        }
    }
}
