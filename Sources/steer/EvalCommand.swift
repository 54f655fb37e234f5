import ArgumentParser
import CLICommon
import Corpus
import Formats
import Foundation
import Model
import Steering
import Tokenizers

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a trained adapter (or the bare model) on problems: greedy accuracy, mean@k, pass@k.",
        discussion: """
        --adapter is a run directory of steer train (its last parameters; --best for best/) or a vector \
        file ([L, d]: .bin .npy .safetensors .gguf, file.h5:/dataset). Without it the model itself is \
        evaluated. With --out, the per-problem samples and results are written to an HDF5 file.
        """)

    @Option(help: "Run directory, PEFT adapter directory or vector file.") var adapter: String?
    @Flag(help: "Use the run's best/ parameters instead of the last.") var best = false
    @Option(help: "Problems: .jsonl lines {\"id\", \"prompt\", \"answer\"}.") var problems: String
    @Option(help: "Hugging Face model directory or GGUF file (default: the model a given run recorded, else the embedded model).") var model: String?
    @Option(name: .customShort("k"), help: "Samples per problem for mean@k and pass@k (temperature --temperature).") var samples: Int = 8
    @Option(help: "Maximum new tokens per completion (default: the run's, else 64).") var maxNew: Int?
    @Option(help: "Sampling temperature for the k samples (default: the run's, else 1).") var temperature: Float?
    @Option(help: "Nucleus sampling mass (default: the run's, else 1).") var topP: Float?
    @Option(help: "Keep the k most likely tokens, 0 = off (default: the run's, else 0).") var topK: Int?
    @Option(help: "Prompt template: auto, raw, chatml, llama3, or text with {prompt} (default: the run's, else auto).") var template: String?
    @Option(help: "System line of the chat templates, with --template (default: the published steering code's boxed-answer line; template: the model's own template's default line).")
    var system: String = PromptTemplate.defaultSystem
    @Option(help: "Seed of the samples (default: the run's, else 0).") var seed: UInt64?
    @Option(help: "Write per-problem results here (HDF5).") var out: String?
    @Option(help: "Write one JSON line per problem here: id, greedy text, greedy correct, and with -k the samples' correctness.") var jsonl: String?
    @Option(help: "Steering vectors: where the last block's vector acts: all (every position), first-token (the last prompt position, which yields the first generated token) or off.")
    var lastBlock: String = "all"
    @Option(help: "ReFT runs: apply rows lo..hi−1 of every intervention (e.g. 0-4: both halves of a composition) instead of those the run trained.")
    var subspace: String?

    func run() throws {
        guard samples >= 0, (maxNew ?? 1) >= 1 else { throw WorkbenchError("-k must be ≥ 0 and --max-new ≥ 1") }
        let (source, base) = try openModel(model ?? adapter.flatMap(RunDirectory.recordedModel(for:)))
        let tokenizer = try source.loadTokenizer()
        guard let last = AppliedAdapter.LastBlock(rawValue: lastBlock) else {
            throw WorkbenchError("--last-block: '\(lastBlock)' is not all, first-token or off")
        }
        let rows = try subspace.map(ReFTSettings.parseSubspace)
        let applied = try adapter.map { try AppliedAdapter.load($0, model: base, best: best, lastBlock: last, subspace: rows) }
        let list = try TrainingRun.loadProblems(problems)
        // A run directory's own sampling settings, template and seed, unless overridden.
        var isDirectory: ObjCBool = false
        let run = try adapter.flatMap { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue
                                        ? try RunDirectory($0).readConfig() : nil }
        var settings = run?.settings.sampling ?? SamplingSettings()
        if let maxNew { settings.maxNewTokens = maxNew }
        if let temperature { settings.temperature = temperature }
        if let topP { settings.topP = topP }
        if let topK { settings.topK = topK }
        try settings.sampling.validate()
        let chosenTemplate = try template.map { try PromptTemplate.parse($0, system: system, chatTemplate: try source.chatTemplate()) }
            ?? run?.template ?? PromptTemplate.parse("auto", system: system, chatTemplate: try source.chatTemplate())
        let sampler = RolloutSampler(model: applied?.model ?? base, tokenizer: tokenizer, template: chosenTemplate,
                                     rewards: [ExactAnswerReward()], settings: settings)
        let e = try PolicyEvaluation.run(sampler: sampler, problems: list, hooks: applied?.hooks ?? ForwardHooks(), k: samples,
                                         seed: seed ?? run?.settings.seed ?? 0)
        print("\(applied?.description ?? "the model without adapter") on \(list.count) problems of \(problems), template \(chosenTemplate.name)")
        print(String(format: "greedy accuracy %.3f   mean@%d %.3f   pass@%d %.3f", e.greedyAccuracy, samples, e.meanAtK, samples, e.passAtK))
        print(String(format: "answer given: greedy %.3f", e.greedyFormatRate) + (samples > 0 ? String(format: ", samples %.3f", e.sampleFormatRate) : "")
              + String(format: "   right among those given: greedy %.3f", e.greedyAnsweredAccuracy)
              + (samples > 0 ? String(format: ", samples %.3f", e.sampleAnsweredAccuracy) : ""))
        if let out {
            let file = try HDF5Writer(path: out)
            try Provenance(model: base).write(to: file)
            if let adapter { try file.setAttribute("adapter", .string(adapter)) }
            try writeEvaluation(e, to: file)
            try file.commit()
            print("wrote \(out)")
        }
        if let jsonl {
            var text = ""
            for (i, id) in e.problemIDs.enumerated() {
                var record: [String: Any] = ["id": id, "greedy_text": e.greedyTexts[i], "greedy_correct": e.greedyCorrect[i],
                                             "greedy_answered": e.greedyAnswered[i]]
                if e.k > 0 { record["sample_correct"] = e.sampleCorrect[i]; record["sample_answered"] = e.sampleAnswered[i] }
                text += String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]),
                               as: UTF8.self) + "\n"
            }
            try writeFileAtomically(Data(text.utf8), to: jsonl)
            print("wrote \(jsonl)")
        }
    }
}
