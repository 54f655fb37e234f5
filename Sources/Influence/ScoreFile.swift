import Foundation
import Model
import Formats

/// A scores.h5 file in memory (docs/influence.md): normalised scores [Q, D] with the
/// ids, optional per-module and per-token parts, and the attributes that say how
/// they were made.
public struct ScoreTable {
    public var queryIDs: [String]
    public var queryNLL: [Double]
    public var documentIDs: [String]
    public var documentSources: [String]
    public var documentTokens: [Int]
    /// [Q][D]
    public var scores: [[Float]]
    public var moduleNames: [String]
    public var dampings: [Double]
    /// [M][Q][D]
    public var perModule: [[[Float]]]?
    /// [Q][Σ_d T_d], documents one after another (offsets from documentTokens).
    public var perToken: [[Float]]?
    /// Per query, which completion tokens' loss formed its gradient (`--query-tokens`); nil
    /// for a file written before the option existed (every completion token counted).
    public var queryTokenMasks: [[Bool]]?
    /// strategy, normalization, damping, factors_hash, model_hash, shard, ... (strings).
    public var attributes: [String: String]

    /// The sign convention written with every score file.
    public static let signConvention = "score = grad log p(completion | prompt)^T (G + damping I)^-1 grad log p(document); positive: upweighting the document raises the completion's likelihood"
    public var top = 10

    /// Raw per-document rows → the normalised table. The attributes that follow from the run
    /// (model_hash, fisher, doc_start, documents_in_corpus, top_k, sign_convention) are filled
    /// in; `attributes` adds the caller's settings (strategy, damping, factors_hash, ...) and
    /// wins over a derived value.
    public init(result: ScoreRun.Result, scorer: InfluenceScorer, normalization: ScoreNormalization,
                attributes: [String: String], top: Int) {
        let Q = scorer.queries.count, D = result.total.count
        func scale(_ q: Int, _ d: Int) -> Float {
            switch normalization {
            case .raw: return 1
            case .nll: return Float(1 / max(scorer.queryNLL[q], 1e-12))
            case .token: return 1 / Float(max(result.tokenCounts[d], 1))
            }
        }
        queryIDs = scorer.queries.map(\.id)
        queryNLL = scorer.queryNLL
        queryTokenMasks = scorer.queryTokenMasks
        documentIDs = result.documentIDs
        documentSources = result.documentSources
        documentTokens = result.tokenCounts
        scores = (0..<Q).map { q in (0..<D).map { d in result.total[d][q] * scale(q, d) } }
        let names = scorer.factors.modules.map(\.module.name)
        moduleNames = names
        dampings = scorer.dampings
        perModule = result.perModule.map { pm in
            names.indices.map { m in (0..<Q).map { q in (0..<D).map { d in pm[d][m][q] * scale(q, d) } } }
        }
        perToken = result.perToken.map { pt in
            (0..<Q).map { q in (0..<D).flatMap { d in pt[d][q].map { $0 * scale(q, d) } } }
        }
        let derived = ["model_hash": scorer.factors.modelHash, "fisher": scorer.factors.fisher.rawValue,
                       "doc_start": "\(result.start)", "documents_in_corpus": "\(result.documentsInCorpus)",
                       "top_k": "\(top)", "sign_convention": Self.signConvention, "query_tokens": scorer.queryTokens.name]
        self.attributes = derived.merging(attributes) { _, caller in caller }
        self.attributes["normalization"] = normalization.rawValue
        self.top = top
    }

    /// The K best documents per query (ties: lower index first).
    public func topDocuments(_ k: Int) -> (indices: [[Int]], scores: [[Float]]) {
        let K = min(k, documentIDs.count)
        var indices: [[Int]] = [], values: [[Float]] = []
        for row in scores {
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(K)
            indices.append(Array(order))
            values.append(order.map { row[$0] })
        }
        return (indices, values)
    }

    public func write(to path: String, model: TransformerModel?) throws {
        let file = try HDF5Writer(path: path)
        if let model { try Provenance(model: model).write(to: file) }
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, .string(value)) }
        let (Q, D, M) = (queryIDs.count, documentIDs.count, moduleNames.count)
        try file.writeFloats("scores", shape: [Q, D], scores.flatMap { $0 })
        try file.writeStrings("query_ids", queryIDs)
        try file.writeFloats("query_nll", shape: [Q], queryNLL.map { Float($0) })
        try file.writeStrings("doc_ids", documentIDs)
        try file.writeStrings("doc_sources", documentSources)
        try file.writeInt32("doc_token_counts", shape: [D], documentTokens)
        try file.writeStrings("modules", moduleNames)
        try file.writeFloats("dampings", shape: [M], dampings.map { Float($0) })
        let (ti, ts) = topDocuments(top)
        let K = ti.first?.count ?? 0
        try file.writeInt32("top/indices", shape: [Q, K], ti.flatMap { $0 })
        try file.writeFloats("top/scores", shape: [Q, K], ts.flatMap { $0 })
        if let perModule { try file.writeFloats("per_module", shape: [M, Q, D], perModule.flatMap { $0.flatMap { $0 } }) }
        if let masks = queryTokenMasks, masks.count == Q {
            try file.writeInt32("query_tokens/masks", shape: [masks.reduce(0) { $0 + $1.count }], masks.flatMap { $0.map { $0 ? 1 : 0 } })
            try file.writeInt32("query_tokens/offsets", shape: [Q + 1], masks.reduce(into: [0]) { $0.append($0.last! + $1.count) })
        }
        if let perToken {
            let N = documentTokens.reduce(0, +)
            try file.writeFloats("per_token/scores", shape: [Q, N], perToken.flatMap { $0 })
            var offsets = [0]
            for t in documentTokens { offsets.append(offsets.last! + t) }
            try file.writeInt32("per_token/doc_offsets", shape: [D + 1], offsets)
        }
        try file.commit()
    }

    /// Attributes that must agree between shards for them to be merged.
    static let mergeKeys = ["strategy", "normalization", "damping", "factors_hash", "model_hash", "query_rank", "fisher", "query_tokens"]

    public init(path: String) throws {
        let file = try HDF5Reader(path: path)
        guard file.contains("scores"), file.contains("query_ids") else { throw WorkbenchError("not a scores file (no /scores)", file: path) }
        queryIDs = try file.readStrings("query_ids")
        queryNLL = try file.readFloats("query_nll").values.map(Double.init)
        documentIDs = try file.readStrings("doc_ids")
        documentSources = try file.readStrings("doc_sources")
        documentTokens = try file.readInts("doc_token_counts").values
        let (Q, D) = (queryIDs.count, documentIDs.count)
        let s = try file.readFloats("scores").values
        scores = (0..<Q).map { Array(s[($0 * D)..<(($0 + 1) * D)]) }
        moduleNames = try file.readStrings("modules")
        dampings = try file.readFloats("dampings").values.map(Double.init)
        let M = moduleNames.count
        if file.contains("per_module") {
            let v = try file.readFloats("per_module").values
            perModule = (0..<M).map { m in (0..<Q).map { q in Array(v[((m * Q + q) * D)..<((m * Q + q + 1) * D)]) } }
        }
        if file.contains("per_token/scores") {
            let v = try file.readFloats("per_token/scores").values
            let N = documentTokens.reduce(0, +)
            perToken = (0..<Q).map { Array(v[($0 * N)..<(($0 + 1) * N)]) }
        }
        top = try file.shape("top/indices").last ?? 10
        // Files written before --query-tokens: every completion token counted (no masks stored).
        if file.contains("query_tokens/masks") {
            let masks = try file.readInts("query_tokens/masks").values, offsets = try file.readInts("query_tokens/offsets").values
            guard offsets.count == Q + 1, offsets.first == 0, offsets.last == masks.count, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw WorkbenchError("query_tokens/offsets do not cover query_tokens/masks", file: path)
            }
            queryTokenMasks = (0..<Q).map { q in masks[offsets[q]..<offsets[q + 1]].map { $0 != 0 } }
        } else {
            queryTokenMasks = nil
        }
        var attributes: [String: String] = [:]
        for key in Self.mergeKeys + ["shard", "sign_convention", "doc_start", "documents_in_corpus", "top_k", "docs_path", "queries_file"] {
            if let v = try file.stringAttribute(key) { attributes[key] = v }
        }
        attributes["query_tokens"] = attributes["query_tokens"] ?? "all"   // files from before --query-tokens
        self.attributes = attributes
    }

    /// Joins shard files (in shard order) into one table equal to a single run's.
    public static func merge(_ paths: [String]) throws -> ScoreTable {
        let tables = try paths.map { try ScoreTable(path: $0) }
        let ordered = zip(paths, tables).sorted { Int($0.1.attributes["doc_start"] ?? "0")! < Int($1.1.attributes["doc_start"] ?? "0")! }
        var merged = ordered[0].1
        for (path, t) in ordered.dropFirst() {
            guard t.queryIDs == merged.queryIDs else { throw WorkbenchError("other queries than \(ordered[0].0)", file: path) }
            for key in mergeKeys where t.attributes[key] != merged.attributes[key] {
                throw WorkbenchError("attribute \(key) = \(t.attributes[key] ?? "none") differs from \(ordered[0].0)'s \(merged.attributes[key] ?? "none")", file: path)
            }
            guard t.queryTokenMasks == merged.queryTokenMasks else { throw WorkbenchError("other query-token masks than \(ordered[0].0)", file: path) }
            guard (merged.perModule == nil) == (t.perModule == nil), (merged.perToken == nil) == (t.perToken == nil) else {
                throw WorkbenchError("shards disagree on --per-module / --per-token", file: path)
            }
            let expectedStart = Int(merged.attributes["doc_start"] ?? "0")! + merged.documentIDs.count
            guard Int(t.attributes["doc_start"] ?? "-1") == expectedStart else {
                throw WorkbenchError("starts at document \(t.attributes["doc_start"] ?? "?"), expected \(expectedStart) (a shard is missing)", file: path)
            }
            merged.documentIDs += t.documentIDs
            merged.documentSources += t.documentSources
            merged.documentTokens += t.documentTokens
            for q in merged.scores.indices { merged.scores[q] += t.scores[q] }
            if let pm = t.perModule { for m in pm.indices { for q in pm[m].indices { merged.perModule![m][q] += pm[m][q] } } }
            if let pt = t.perToken { for q in pt.indices { merged.perToken![q] += pt[q] } }
        }
        guard merged.documentIDs.count == Int(merged.attributes["documents_in_corpus"] ?? "") ?? merged.documentIDs.count else {
            throw WorkbenchError("the shards cover \(merged.documentIDs.count) of \(merged.attributes["documents_in_corpus"]!) documents")
        }
        merged.attributes["shard"] = "0/1"
        return merged
    }
}
