import ArgumentParser
import CLICommon
import Cluster
import Foundation
import Influence
import Model
import Corpus
import Formats
import Tokenizers

@main
struct InfluenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "influence",
        abstract: "Which pretraining documents make a model give an answer: EK-FAC influence functions.",
        discussion: """
        fit → factors.h5 (EK-FAC), score → scores.h5 (queries × documents), self → self-influence, \
        merge → join shards of a score run, analyze → the procedural-knowledge analyses. --model is \
        optional everywhere: the embedded model is \
        used without it. docs/influence.md gives the method, the sign convention and the formats.
        """,
        version: WorkbenchVersion.current,
        subcommands: [Fit.self, Score.self, SelfInfluence.self, Merge.self, Analyze.self])

    static func main() { runCommand(InfluenceCommand.self) }
}

/// Options shared by the commands that fit factors.
struct FitOptions: ParsableArguments {
    @Option(help: "Tracked modules: mlp (gate, up, down; default), attention, all, projection names or module names, comma-separated.")
    var modules: String = "mlp"
    @Option(help: "Fisher: true (labels sampled from the model; default) or empirical (the documents' own tokens).")
    var fisher: String = "true"
    @Option(help: "Documents are cut to this many tokens.") var maxLength: Int = 512
    @Option(help: "Seed for the sampled labels of the true Fisher.") var seed: UInt64 = 0
    @Flag(help: "Skip corpus lines that are not valid documents (counted) instead of stopping.") var skipBad = false

    func options() throws -> EKFACFactors.Options {
        guard let f = EKFACFactors.Fisher(rawValue: fisher) else { throw WorkbenchError("--fisher: '\(fisher)' is not true or empirical") }
        guard maxLength >= 2 else { throw WorkbenchError("--max-length must be at least 2") }
        var o = EKFACFactors.Options()
        o.fisher = f; o.maxLength = maxLength; o.seed = seed
        return o
    }
}

/// Loads the model and its tokenizer.
func loadModel(_ given: String?) throws -> (TransformerModel, Tokenizer) {
    let (source, model) = try openModel(given)
    return (model, try source.loadTokenizer())
}

/// The corpus as the influence commands read it: every document needs an id.
func influenceDocuments(_ path: String, skipBad: Bool = false) throws -> DocumentStream {
    let stream = try DocumentStream(path: path, requireIDs: true, skipBad: skipBad)
    if !skipBad { stream.badLineHint = "use --skip-bad to skip such lines" }
    return stream
}

/// This process's checkpoint file of a fit or score run writing `out` (OUT.partial.h5, under
/// mpirun OUT.partial.RofN.h5), once rank 0 holds the output's lock: that lock removed what a
/// killed run left beside the output, and the other ranks, maybe on other machines, remove
/// their own partial's temporaries here.
func partialFile(for out: String, in group: ProcessGroup) throws -> String {
    let partial = group.isDistributed ? out + ".partial.\(group.rank)of\(group.size).h5" : out + ".partial.h5"
    try group.barrier()
    if !group.isRoot { removeStaleTemporaries(of: partial) }
    return partial
}

/// Fits EK-FAC factors with an estimate first and progress bars, and writes them. Under
/// mpirun every rank fits its share of the documents and returns the same factors; rank 0 writes.
///
/// State is saved to OUT.partial.h5 (under mpirun OUT.partial.RofN.h5, one per rank) every
/// `checkpointEvery` seconds; rerunning the same command resumes from it and writes the same bits.
func fitFactors(model: TransformerModel, tokenizer: Tokenizer, docs: String, fit: FitOptions, out: String,
                checkpointEvery: Double) throws -> EKFACFactors {
    let modules = try TrackedModule.select(fit.modules, model: model)
    let options = try fit.options()
    let stream = try influenceDocuments(docs, skipBad: fit.skipBad)
    try checkWritable(out)
    guard checkpointEvery >= 0 else { throw WorkbenchError("--checkpoint-every must be at least 0 seconds") }
    let group = ProcessGroup.world
    // One fit per output at a time: a second would overwrite the first's checkpoints.
    if group.isRoot { try OutputLock.acquire(out + ".lock", for: out) }
    // Estimate: one forward + backward per document and pass, plus the rotations for Λ. The
    // same reading hashes the corpus into the key that a checkpoint must match to be resumed.
    var documents = 0, tokens = 0
    var key = ContentHash()
    try stream.forEach { doc in
        documents += 1
        tokens += min(tokenizer.encode(doc.text).count, options.maxLength)
        key.update(Data("\(doc.index)\u{0}\(doc.id)\u{0}\(doc.text)\u{0}".utf8))
        return true
    }
    key.update(Data("\(model.fingerprint) \(modules.map(\.name)) \(options.fisher) \(options.maxLength) \(options.seed) \(group.size)".utf8))
    let parameters = Double(model.parameterCount)
    let perPass = 6 * parameters * Double(tokens)
    let rotations = modules.reduce(0.0) { s, m in
        s + Double(tokens) * Double(m.outputDimension * m.outputDimension + m.inputDimension * m.inputDimension + m.parameterCount) * 2
    }
    let factorBytes = modules.reduce(0) { $0 + 4 * ($1.inputDimension * $1.inputDimension + $1.outputDimension * $1.outputDimension + $1.parameterCount) }
    guard documents > 0 else { throw WorkbenchError("no documents to fit on", file: docs) }
    let seconds = (2 * perPass + rotations) / 40e9 / Double(group.size)
    if group.isDistributed { printError("fit: \(group.size) ranks, each fitting every \(group.size)th document") }
    printError(String(format: "fit: %d documents, %d tokens, %d modules (%@ parameters), %@ Fisher; factors %.1f MB, working memory ~%.0f MB; estimated %.0f s",
                      documents, tokens, modules.count, formatCount(modules.reduce(0) { $0 + $1.parameterCount }), options.fisher.rawValue,
                      Double(factorBytes) / 1e6, Double(factorBytes) * 3 / 1e6 + Double(options.maxLength * model.config.vocabSize * 12) / 1e6, seconds))
    if stream.skipped > 0 { printError("skipping \(stream.skipped) bad lines") }
    let share = (documents - group.rank + group.size - 1) / group.size
    let bars = [ProgressLine("covariances", total: share), ProgressLine("eigenvalues", total: share)]
    let partial = try partialFile(for: out, in: group)
    if FileManager.default.fileExists(atPath: partial) { printError("resuming from \(partial)") }
    let checkpoints = FitCheckpoints(path: partial, runKey: key.hex, interval: checkpointEvery)
    let factors = try EKFACFactors.fit(model: model, tokenizer: tokenizer, documents: stream, modules: modules, options: options,
                                       group: group, checkpoints: checkpoints) { pass, done in
        bars[pass - 1].update(done)
    }
    if group.isRoot { try factors.write(to: out, model: model) }
    try group.barrier()
    try? FileManager.default.removeItem(atPath: partial)
    return factors
}

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit EK-FAC factors (eigenbases of A and S, corrected eigenvalues Λ) over a corpus.")

    @Option(help: "Corpus: a directory of .jsonl shards or one .jsonl file ({\"id\", \"text\", \"source\"} per line).") var docs: String
    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).") var model: String?
    @Option(help: "Output HDF5 file.") var out: String
    @Option(help: ArgumentHelp("Seconds between checkpoints to OUT.partial.h5; rerunning the same command resumes from it.",
                               discussion: "A save also waits ten times as long as the last one took, so saving costs at most ~10%."))
    var checkpointEvery: Double = 60
    @OptionGroup var fit: FitOptions

    func run() throws {
        let (m, tokenizer) = try loadModel(model)
        let start = Date()
        let factors = try fitFactors(model: m, tokenizer: tokenizer, docs: docs, fit: fit, out: out, checkpointEvery: checkpointEvery)
        print(String(format: "fitted %d modules on %d sequences (%d tokens) in %.1f s; wrote %@",
                     factors.modules.count, factors.sequenceCount, factors.tokenCount, Date().timeIntervalSince(start), out))
    }
}
