import CLICommon
import Foundation
import Influence
import Model
import Corpus
import Formats
import Tokenizers

/// The demo's influence step: EK-FAC factors on the shipped corpus sample, then a few
/// queries scored against it; prints each query's most influential documents.
struct DemoInfluenceStep {
    let model: TransformerModel
    let tokenizer: Tokenizer
    let out: String

    func run(corpus: String, queries: [Query]) throws -> [(String, String)] {
        let stream = try DocumentStream(path: corpus, requireIDs: true)
        var options = EKFACFactors.Options()
        options.maxLength = 128
        let modules = try TrackedModule.select("mlp", model: model)
        let factors = try EKFACFactors.fit(model: model, tokenizer: tokenizer, documents: stream, modules: modules, options: options)
        let factorPath = (out as NSString).appendingPathComponent("factors.h5")
        try factors.write(to: factorPath, model: model)
        let scorer = try InfluenceScorer(model: model, tokenizer: tokenizer, factors: factors, queries: queries, maxLength: 128)
        let partial = (out as NSString).appendingPathComponent("influence.partial.h5")
        // The queries as a file, recorded in the score file with the corpus (the report and the
        // notebooks join the texts through them); per-token scores for the report's shading.
        let queriesPath = (out as NSString).appendingPathComponent("queries.jsonl")
        let queryLines = try queries.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try writeFileAtomically(Data((queryLines.joined(separator: "\n") + "\n").utf8), to: queriesPath)
        var scoring = ScoreRun()
        scoring.perToken = true
        let result = try scoring.run(scorer: scorer, documents: stream, partialPath: partial,
                                        runKey: "demo-" + factors.modelHash + queries.map(\.id).joined(separator: ","))
        let table = ScoreTable(result: result, scorer: scorer, normalization: .nll,
                               attributes: ["strategy": "ekfac", "damping": "heuristic", "query_rank": "full", "shard": "0/1",
                                            "factors_hash": try EKFACFactors.fileHash(factorPath),
                                            "docs_path": absolutePath(corpus), "queries_file": absolutePath(queriesPath)], top: 10)
        let scorePath = (out as NSString).appendingPathComponent("influence.h5")
        try table.write(to: scorePath, model: model)
        try? FileManager.default.removeItem(atPath: partial)
        print("  \(factors.modules.count) MLP modules fitted on \(factors.sequenceCount) documents (\(factors.tokenCount) tokens, true Fisher); scores ÷ completion NLL")
        let (indices, values) = table.topDocuments(3)
        let shownIDs = Set(indices.joined().map { table.documentIDs[$0] })
        var texts: [String: String] = [:]
        try stream.forEach { if shownIDs.contains($0.id) { texts[$0.id] = $0.text }; return true }
        for (q, query) in queries.enumerated() {
            let completion = query.completion ?? ""
            print("  \(query.prompt)\(completion.prefix(40))\(completion.count > 40 ? "…" : "")")
            for (d, v) in zip(indices[q], values[q]) {
                let id = table.documentIDs[d]
                let snippet = visible(String((texts[id] ?? "").prefix(70)))
                print(String(format: "    %+9.3g  %-10@ %@", v, table.documentSources[d], snippet))
            }
        }
        return [
            (factorPath, "EK-FAC factors: per module /qa, /qs, /lambda"),
            (scorePath, "/scores [\(queries.count), \(result.total.count)], /top/indices, /doc_ids, /doc_sources: `influence analyze` reads it"),
        ]
    }
}
