import ArgumentParser
import CLICommon
import Foundation
import Model
import Steering
import Tokenizers

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate tokens with the KV cache (greedy by default).",
        discussion: """
        Several prompts can be given by repeating --ids; they are left-padded and generated \
        as one batch. Sampling is seeded: the same seed gives the same tokens. Generation of \
        a sequence stops at the model's EOS id (config.json eos_token_id) or after --max-new tokens.
        """)

    @Option(help: "Hugging Face model directory or GGUF file (default: the model a given run recorded, else the embedded model).")
    var model: String?

    @Option(help: "Prompt token ids, comma-separated; repeat for a batch.")
    var ids: [String] = []

    @Option(name: [.customLong("text"), .customLong("prompt")],
            help: "Prompt text, encoded with the model's tokenizer.json; repeat for a batch.")
    var texts: [String] = []

    @Option(help: "Maximum number of new tokens per prompt.")
    var maxNew: Int = 32

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature: Float = 0

    @Option(help: "Keep only the k most likely tokens (0 = off).")
    var topK: Int = 0

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass (1 = off).")
    var topP: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Do not stop at the EOS token.")
    var ignoreEos = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(help: "Apply a trained adapter: a steer run directory, a PEFT LoRA/TinyLoRA directory, or a vector file [L, d] (.bin .npy .safetensors .gguf).")
    var adapter: String?

    func validate() throws {
        guard ids.isEmpty != texts.isEmpty else { throw ValidationError("give prompts with --ids or with --text, not both") }
        guard maxNew >= 1 else { throw ValidationError("--max-new must be at least 1") }
    }

    func run() throws {
        let (source, base) = try openModel(self.model ?? adapter.flatMap(RunDirectory.recordedModel(for:)))
        let applied = try adapter.map { try AppliedAdapter.load($0, model: base) }
        let m = applied?.model ?? base
        if let applied { printError("adapter: \(applied.description)") }
        let tokenizer = texts.isEmpty ? nil : try source.loadTokenizer()
        let prompts = try ids.isEmpty ? texts.map { try encodePrompt($0, with: tokenizer!) }
                                      : ids.map { try parseIDs($0, option: "--ids") }
        let options = GenerationOptions(
            maxNewTokens: maxNew,
            sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP),
            seed: seed,
            stopTokens: ignoreEos ? [] : Set(m.config.eosTokenIds))
        let start = Date()
        let result = try m.generate(prompts: prompts, options: options, hooks: applied?.hooks ?? ForwardHooks())
        let seconds = Date().timeIntervalSince(start)
        let produced = result.tokens.map(\.count).reduce(0, +)
        if json {
            let rows = result.tokens.enumerated().map { i, t in
                var row = "{\"prompt\": \(prompts[i]), \"tokens\": \(t), \"stopped_at_eos\": \(result.stopped[i])"
                if let tokenizer { row += ", \"text\": " + jsonString(tokenizer.decode(t, skipSpecialTokens: true)) }
                return row + "}"
            }
            print("[" + rows.joined(separator: ", ") + "]")
        } else {
            for (i, t) in result.tokens.enumerated() {
                if let tokenizer {
                    print("[\(i)] " + String(reflecting: texts[i]) + " → " + String(reflecting: tokenizer.decode(t, skipSpecialTokens: true))
                          + (result.stopped[i] ? "  (EOS)" : ""))
                } else {
                    print("[\(i)] " + t.map(String.init).joined(separator: ",") + (result.stopped[i] ? "  (EOS)" : ""))
                }
            }
            fflush(stdout)
            printError(String(format: "%d tokens in %.2f s (%.1f tokens/s)", produced, seconds, Double(produced) / max(seconds, 1e-9)))
        }
    }
}
