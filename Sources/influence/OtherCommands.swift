import ArgumentParser
import CLICommon
import Foundation
import Influence
import Model
import Corpus
import Formats

struct SelfInfluence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "self",
        abstract: "Self-influence of every document: ∇log p(z)ᵀ (G + λI)⁻¹ ∇log p(z).")

    @Option(help: "Corpus: a directory of .jsonl shards or one .jsonl file.") var docs: String
    @Option(help: "EK-FAC factors from `influence fit`.") var factors: String
    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).") var model: String?
    @Option(help: "Output HDF5 file: /self [D], /doc_ids, /doc_sources.") var out: String
    @Option(help: "λ: a number, or heuristic (0.1 × mean Λ per module).") var damping: String = "heuristic"
    @Flag(help: "Skip corpus lines that are not valid documents.") var skipBad = false

    func run() throws {
        let (m, tokenizer) = try loadModel(model)
        let fitted = try EKFACFactors(path: factors, model: m)
        try checkWritable(out)
        let value: Double? = damping == "heuristic" ? nil : Double(damping)
        guard damping == "heuristic" || value != nil else { throw WorkbenchError("--damping: '\(damping)' is not a number or heuristic") }
        let dampings = fitted.modules.map { value ?? $0.heuristicDamping }
        let capture = GradientCapture(model: m, modules: fitted.modules.map(\.module))
        let stream = try influenceDocuments(docs, skipBad: skipBad)
        let (ids, sources) = try stream.catalogue()
        let bar = ProgressLine("self-influence", total: ids.count)
        var values: [Float] = []
        try stream.forEach { doc in
            values.append(try InfluenceScorer.selfInfluence(doc, capture: capture, factors: fitted, dampings: dampings,
                                                            tokenizer: tokenizer, maxLength: fitted.maxLength))
            bar.update(values.count)
            return true
        }
        let file = try HDF5Writer(path: out)
        try Provenance(model: m).write(to: file)
        try file.setAttribute("damping", .string(damping))
        try file.setAttribute("factors_hash", .string(try EKFACFactors.fileHash(factors)))
        try file.writeFloats("self", shape: [values.count], values)
        try file.writeStrings("doc_ids", ids)
        try file.writeStrings("doc_sources", sources.map { $0 ?? "" })
        try file.commit()
        print("wrote \(out): self-influence of \(values.count) documents")
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the score files of `influence score --shard i/n` runs into one, equal to a single run.")

    @Argument(help: "Shard score files (any order).") var files: [String]
    @Option(help: "Output HDF5 file.") var out: String

    func run() throws {
        guard !files.isEmpty else { throw WorkbenchError("no score files given") }
        let merged = try ScoreTable.merge(files)
        try merged.write(to: out, model: nil)
        print("merged \(files.count) files: \(merged.queryIDs.count) queries × \(merged.documentIDs.count) documents; wrote \(out)")
    }
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The procedural-knowledge analyses of a score file, as HDF5 and a markdown report next to it.",
        discussion: """
        (1) correlation of document scores between queries, within and across tasks, and the same \
        split into magnitude (correlation of |scores|) and sign (fraction of documents with the same \
        sign for both queries); (2) cumulative \
        share of positive influence in the top percentiles and a power-law fit; (3) whether the answer \
        appears in the top documents; (4) overlap of the top documents with the query's procedure \
        (word n-grams, numbers masked); (5) over/under-representation of sources in the top and \
        bottom documents. The report sets the paper's numbers beside ours.
        """)

    @Argument(help: "Score file from `influence score` (use --normalize nll for the paper's setting).") var scores: String
    @Option(help: "The corpus the scores were computed on.") var docs: String
    @Option(help: "Query files (repeatable); each query's task and answer come from here.") var queries: [String]
    @Option(help: "Output HDF5 file; the report is written next to it with the extension .md.") var out: String
    @Option(help: "Top (and bottom) documents per query.") var topK: Int = 50

    func run() throws {
        guard !queries.isEmpty else { throw WorkbenchError("give at least one --queries file") }
        let table = try ScoreTable(path: scores)
        try checkWritable(out)
        let stream = try influenceDocuments(docs)
        let ids = try stream.catalogue().ids
        guard ids.count >= table.documentIDs.count, Array(ids.prefix(table.documentIDs.count)) == table.documentIDs else {
            throw WorkbenchError("the score file's documents are not the first documents of --docs (merge shards first)", file: scores)
        }
        var options = InfluenceAnalysis.Options()
        options.topK = topK
        let analysis = try InfluenceAnalysis.run(scores: table, queries: try queries.flatMap { try Query.load($0) },
                                                 documents: stream, options: options)
        try analysis.write(to: out, queryIDs: table.queryIDs)
        let report = (out as NSString).deletingPathExtension + ".md"
        let md = analysis.markdown(title: "Influence analysis of \((scores as NSString).lastPathComponent)")
        try writeFileAtomically(Data(md.utf8), to: report)
        print(md)
        print("wrote \(out) and \(report)")
    }
}
