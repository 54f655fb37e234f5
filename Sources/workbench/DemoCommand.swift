import ArgumentParser
import CLICommon
import Foundation
import Influence
import Report
import Model
import Corpus
import Tokenizers

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: describe the embedded model, generate, dump activations to HDF5, and read them through the logit lens.",
        discussion: "Runs in well under a minute on the embedded model. Results go under --out.")

    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).")
    var model: String?

    @Option(help: "Output directory.")
    var out: String = "out/demo"

    func run() throws {
        let start = Date()
        let (source, m) = try openModel(model)
        let tokenizer = try source.loadTokenizer()
        let c = m.config
        print("== model: \(source.path)")
        printTable([
            ("architecture", "\(c.architecture.rawValue), \(c.layerCount) blocks, d=\(c.hiddenSize), \(c.headCount) heads / \(c.kvHeadCount) KV heads, MLP \(c.intermediateSize)"),
            ("parameters", formatCount(m.parameterCount) + " (" + m.storedDTypes.joined(separator: ", ") + " on disk)"),
            ("tokenizer", "\(tokenizer.vocabularySize) tokens"),
            ("BLAS kernel", BLASRuntime.coreName),
        ])

        // Prompts: the embedded model's own queries when present, else fixed text.
        let queries = (DefaultModel.dataDirectory as NSString).appendingPathComponent("queries")
        var prompts: [(String, String?)] = [("The capital of", nil), ("Compute 12 + 30 - 5.", "37")]
        var factualPrompts = ["The capital of France is", "The river of Egypt is the", "Paris was founded by"]
        var reasoningPrompts = ["Compute 12 + 30 - 5.", "Solve 2x + 4 = 10.", "Compute 7 + 8 + 9."]
        var influenceQueries: [Query] = []
        if model == nil, FileManager.default.fileExists(atPath: queries + "/factual.jsonl") {
            let facts = try readJSONLines(Query.self, queries + "/factual.jsonl").filter { ($0.mentions ?? 0) >= 3 }
            let reasoning = try readJSONLines(Query.self, queries + "/reasoning.jsonl")
            prompts = facts.prefix(3).map { ($0.prompt, $0.answer) }
            factualPrompts = facts.prefix(24).map(\.prompt)
            reasoningPrompts = reasoning.prefix(24).map(\.prompt)
            for task in ["arithmetic", "slope", "linear"] {
                if let q = reasoning.first(where: { $0.task == task }) { prompts.append((q.prompt, q.answer)) }
            }
            influenceQueries = Array(facts.prefix(2)) + Array(reasoning.prefix(2))
        }
        print("\n== greedy generation")
        let ids = prompts.map { tokenizer.encode($0.0) }
        let gen = try m.generate(prompts: ids, options: GenerationOptions(maxNewTokens: 40, stopTokens: Set(c.eosTokenIds)))
        var lines: [String] = []
        for ((prompt, answer), tokens) in zip(prompts, gen.tokens) {
            let text = tokenizer.decode(tokens, skipSpecialTokens: true).components(separatedBy: "\n").first ?? ""
            let (bold, plain) = isatty(STDOUT_FILENO) != 0 ? ("\u{1B}[1m", "\u{1B}[0m") : ("", "")
            print("  \(prompt)\(bold)\(text)\(plain)" + (answer.map { "   (expected: \($0))" } ?? ""))
            lines.append("{\"prompt\": \(jsonString(prompt)), \"completion\": \(jsonString(text))\(answer.map { ", \"expected\": \(jsonString($0))" } ?? "")}")
        }
        let generationsPath = (out as NSString).appendingPathComponent("generations.jsonl")
        try writeFileAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: generationsPath)

        print("\n== activations")
        let (text, tokens) = (prompts[0].0, ids[0])
        let result = try m.forward(TokenBatch(tokens), logits: .all, captureResiduals: true)
        let T = tokens.count
        let h5Path = (out as NSString).appendingPathComponent("activations.h5")
        try writeActivations(to: h5Path, model: m, tokens: tokens, text: text, tokenizer: tokenizer, result: result)
        let norms = result.residuals.map { r -> String in
            let last = Array(r.values.suffix(c.hiddenSize))
            return String(format: "%.1f", last.map { $0 * $0 }.reduce(0, +).squareRoot())
        }
        print("  \"\(text)\": \(T) tokens; residual norm at the last position by layer: \(norms.joined(separator: " → "))")

        print("\n== logit lens")
        let lensFiles = try DemoLensStep(model: m, tokenizer: tokenizer, out: out)
            .run(prompt: text, tokens: tokens, setA: ("reasoning", reasoningPrompts), setB: ("factual", factualPrompts))

        var influenceFiles: [(String, String)] = []
        let sample = (DefaultModel.dataDirectory as NSString).appendingPathComponent("corpus-sample.jsonl")
        if !influenceQueries.isEmpty, FileManager.default.fileExists(atPath: sample) {
            print("\n== influence: which of the sample documents drive these answers")
            influenceFiles = try DemoInfluenceStep(model: m, tokenizer: tokenizer, out: out).run(corpus: sample, queries: influenceQueries)
        }

        var steeringFiles: [(String, String)] = []
        let rl = (DefaultModel.dataDirectory as NSString).appendingPathComponent("rl")
        if model == nil, FileManager.default.fileExists(atPath: rl + "/train.jsonl") {
            print("\n== steering vectors trained by RL")
            steeringFiles = try DemoSteeringStep(model: m, tokenizer: tokenizer, out: out)
                .run(problems: rl + "/train.jsonl", heldOut: rl + "/test.jsonl")
        }

        let reportPath = (out as NSString).appendingPathComponent("report.html")
        try Report(paths: [out]).write(to: reportPath)

        print("\n== results (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        print("  \(reportPath)   everything below on one page: open it in a browser")
        print("  \(generationsPath)   prompts and greedy completions")
        print("  \(h5Path)   /input_ids [\(T)], /tokens, /logits [\(T), \(c.vocabSize)], /residual [\(c.layerCount + 1), \(T), \(c.hiddenSize)]")
        for (path, what) in lensFiles + influenceFiles + steeringFiles { print("  \(path)   \(what)") }
        print("  read them with h5py, pandas or HDFView; docs/formats.md lists every dataset")
    }
}
