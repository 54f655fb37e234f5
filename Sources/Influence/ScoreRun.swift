import Cluster
import Foundation
import Model
import Corpus
import Formats

/// Scores a corpus (or one shard of it) against prepared queries, checkpointing to
/// `OUT.partial.h5` so that a killed run resumes where it stopped. Each document's
/// scores depend on that document alone, so a resumed run is bit-identical to an
/// uninterrupted one, and shards joined by `merge` equal a single run.
public struct ScoreRun {
    public var shardIndex = 0
    public var shardCount = 1
    public var perModule = false
    public var perToken = false
    /// Seconds between checkpoints.
    public var checkpointInterval: Double = 30
    /// Documents scored together: batch b holds the documents with index in
    /// [b·batchSize, (b+1)·batchSize) of the whole corpus, whichever shard or resumed run
    /// scores them, so every document is always computed in the same batch.
    public var batchSize = 32
    public init() {}

    /// Raw results of a run over documents [start, end) of the corpus.
    public struct Result {
        public var start: Int
        /// Documents in the whole corpus (all shards).
        public var documentsInCorpus = 0
        public var documentIDs: [String] = []
        public var documentSources: [String] = []
        public var tokenCounts: [Int] = []
        /// [D][Q]
        public var total: [[Float]] = []
        /// [D][M][Q]
        public var perModule: [[[Float]]]?
        /// [D][Q][T_d]
        public var perToken: [[[Float]]]?
    }

    /// The slice of document indices this shard scores: boundaries near i·D/n, on batch boundaries.
    public static func range(shard i: Int, of n: Int, documentCount D: Int, batchSize B: Int) -> Range<Int> {
        let batches = (D + B - 1) / B
        return min(D, i * batches / n * B)..<min(D, (i + 1) * batches / n * B)
    }

    public func run(scorer: InfluenceScorer, documents: DocumentStream, partialPath: String, runKey: String,
                    progress: (Int, Int) throws -> Void = { _, _ in }) throws -> Result {
        let (ids, sources) = try documents.catalogue()
        let slice = Self.range(shard: shardIndex, of: shardCount, documentCount: ids.count, batchSize: batchSize)
        var result = try Self.loadPartial(partialPath, runKey: runKey, perModule: perModule, perToken: perToken)
            ?? Result(start: slice.lowerBound, perModule: perModule ? [] : nil, perToken: perToken ? [] : nil)
        result.documentsInCorpus = ids.count
        let resumedAt = slice.lowerBound + result.total.count
        var lastCheckpoint = Date()
        var pending: [Document] = []
        func flush() throws {
            guard !pending.isEmpty else { return }
            for (doc, s) in zip(pending, try scorer.score(pending, perModule: perModule, perToken: perToken)) {
                result.documentIDs.append(doc.id)
                result.documentSources.append(doc.source ?? "")
                result.tokenCounts.append(s.tokenCount)
                result.total.append(s.total)
                if perModule { result.perModule!.append(s.perModule!) }
                if perToken { result.perToken!.append(s.perToken!) }
            }
            pending = []
            if Date().timeIntervalSince(lastCheckpoint) >= checkpointInterval {
                try Self.savePartial(result, to: partialPath, runKey: runKey)
                lastCheckpoint = Date()
            }
            try progress(result.total.count, slice.count)
        }
        try documents.forEach { doc in
            guard doc.index < slice.upperBound else { return false }
            guard doc.index >= resumedAt else { return true }
            pending.append(doc)
            if (doc.index + 1) % batchSize == 0 { try flush() }
            return true
        }
        try flush()
        precondition(result.documentIDs == Array(ids[slice]) && result.documentSources == Array(sources[slice]),
                     "document order changed between passes")
        return result
    }

    /// Under mpirun: every rank's result (rank r scored shard r of size) joined on rank 0 in
    /// shard order, equal to one process's result over the whole corpus; nil on other ranks.
    public static func gather(_ result: Result, in group: ProcessGroup) throws -> Result? {
        guard group.isDistributed else { return result }
        // Results travel as the partial-file image: one format, already tested for round trips.
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("workbench-scores-\(getpid())-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try savePartial(result, to: scratch, runKey: "gather")
        guard let images = try group.gather(try readFile(scratch)) else { return nil }
        var joined = result
        for image in images.dropFirst() {
            try image.write(to: URL(fileURLWithPath: scratch))
            let part = try loadPartial(scratch, runKey: "gather", perModule: result.perModule != nil, perToken: result.perToken != nil)!
            joined.documentIDs += part.documentIDs
            joined.documentSources += part.documentSources
            joined.tokenCounts += part.tokenCounts
            joined.total += part.total
            if let pm = part.perModule { joined.perModule! += pm }
            if let pt = part.perToken { joined.perToken! += pt }
        }
        return joined
    }

    // The partial file holds raw rows so far; rewritten whole (atomically) at each checkpoint.
    static func savePartial(_ r: Result, to path: String, runKey: String) throws {
        let file = try HDF5Writer(path: path)
        try file.setAttribute("run_key", .string(runKey))
        try file.setAttribute("start", .int(r.start))
        let D = r.total.count, Q = r.total.first?.count ?? 0
        try file.writeStrings("doc_ids", r.documentIDs)
        try file.writeStrings("doc_sources", r.documentSources)
        try file.writeInt32("token_counts", shape: [D], r.tokenCounts)
        try file.writeFloats("total", shape: [D, Q], r.total.flatMap { $0 })
        if let pm = r.perModule {
            try file.writeFloats("per_module", shape: [D, pm.first?.count ?? 0, Q], pm.flatMap { $0.flatMap { $0 } })
        }
        if let pt = r.perToken {
            let flat = pt.flatMap { $0.flatMap { $0 } }
            try file.writeFloats("per_token", shape: [flat.count], flat)
        }
        try file.commit()
    }

    static func loadPartial(_ path: String, runKey: String, perModule: Bool, perToken: Bool) throws -> Result? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try HDF5Reader(path: path)
        guard try file.stringAttribute("run_key") == runKey else {
            throw WorkbenchError("a partial run with other inputs or options is in the way; remove it to start afresh", file: path)
        }
        var r = Result(start: Int(try file.numberAttribute("start") ?? 0))
        r.documentIDs = try file.readStrings("doc_ids")
        r.documentSources = try file.readStrings("doc_sources")
        r.tokenCounts = try file.readInts("token_counts").values
        let (shape, total) = try file.readFloats("total")
        let (D, Q) = (shape[0], shape.count > 1 ? shape[1] : 0)
        r.total = (0..<D).map { Array(total[($0 * Q)..<(($0 + 1) * Q)]) }
        if perModule {
            let (s, v) = try file.readFloats("per_module")
            let M = s[1]
            r.perModule = (0..<D).map { d in (0..<M).map { m in Array(v[((d * M + m) * Q)..<((d * M + m + 1) * Q)]) } }
        }
        if perToken {
            let v = try file.readFloats("per_token").values
            var offset = 0
            r.perToken = r.tokenCounts.map { T in
                (0..<Q).map { _ in defer { offset += T }; return Array(v[offset..<(offset + T)]) }
            }
        }
        return r
    }
}
