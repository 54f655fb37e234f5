import ArgumentParser
import CLICommon
import Foundation
import Model
import Steering
import Formats
import Tokenizers

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one sequence through the model and write logits and residuals to HDF5.",
        discussion: """
        Writes /input_ids [T], /logits [T, V] and /residual [L+1, T, d] (the residual stream \
        after the embedding and after every block, before the final norm), with provenance \
        attributes. See docs/formats.md.
        """)

    @Option(help: "Hugging Face model directory or GGUF file (default: the model a given run recorded, else the embedded model).")
    var model: String?

    @Option(help: "Token ids, comma-separated, e.g. 1,2,3.")
    var ids: String?

    @Option(help: "Text to encode with the model's tokenizer.json (instead of --ids).")
    var text: String?

    @Option(help: "Output HDF5 file.")
    var out: String = "out/forward.h5"

    @Flag(help: "Leave out /residual.")
    var noResidual = false

    @Option(help: "Apply a trained adapter: a steer run directory, a PEFT LoRA/TinyLoRA directory, or a vector file [L, d] (.bin .npy .safetensors .gguf).")
    var adapter: String?

    func validate() throws {
        guard (ids == nil) != (text == nil) else { throw ValidationError("give exactly one of --ids and --text") }
    }

    func run() throws {
        let (source, base) = try openModel(self.model ?? adapter.flatMap(RunDirectory.recordedModel(for:)))
        let applied = try adapter.map { try AppliedAdapter.load($0, model: base) }
        let m = applied?.model ?? base
        if let applied { printError("adapter: \(applied.description)") }
        let tokenizer = text == nil ? nil : try source.loadTokenizer()
        let tokens = try ids.map { try parseIDs($0, option: "--ids") } ?? encodePrompt(text!, with: tokenizer!)
        let result = try m.forward(TokenBatch(tokens), hooks: applied?.hooks ?? ForwardHooks(), logits: .all,
                                   captureResiduals: !noResidual)
        let logits = result.logits!
        let (T, V, d, L) = (tokens.count, m.config.vocabSize, m.config.hiddenSize, m.config.layerCount)

        try writeActivations(to: out, model: m, tokens: tokens, text: text, tokenizer: tokenizer, result: result)

        let last = UnsafeBufferPointer(start: logits.data + (T - 1) * V, count: V)
        let next = TokenDistribution.argmax(last)
        print("forward: \(T) tokens through \(L) blocks (\(m.config.architecture.rawValue), d=\(d), V=\(V))")
        print("next-token argmax after the last position: \(next) (logit \(String(format: "%.4f", last[next])))")
        print("wrote \(out): /input_ids [\(T)]" + (text == nil ? "" : ", /tokens [\(T)]") + ", /logits [\(T), \(V)]"
              + (noResidual ? "" : ", /residual [\(L + 1), \(T), \(d)]"))
    }
}

/// The forward pass's HDF5 file (docs/formats.md, `workbench forward`): /input_ids, /tokens and
/// the `text` attribute with a text prompt, /logits, and /residual when residuals were captured.
func writeActivations(to path: String, model m: TransformerModel, tokens: [Int], text: String?, tokenizer: Tokenizer?,
                      result: ForwardOutput) throws {
    let (T, V, d, L) = (tokens.count, m.config.vocabSize, m.config.hiddenSize, m.config.layerCount)
    let file = try HDF5Writer(path: path)
    try Provenance(model: m).write(to: file)
    try file.writeInt32("input_ids", shape: [T], tokens)
    if let text, let tokenizer {
        try file.setAttribute("text", .string(text))
        try file.writeStrings("tokens", tokenizer.tokens(tokens))
    }
    try file.writeFloats("logits", shape: [T, V], result.logits!.data)
    if !result.residuals.isEmpty {
        var all = [Float]()
        all.reserveCapacity((L + 1) * T * d)
        for r in result.residuals { all += r.values }
        try file.writeFloats("residual", shape: [L + 1, T, d], all)
    }
    try file.commit()
}

/// Token ids of a --text prompt; refuses text that encodes to nothing.
func encodePrompt(_ text: String, with tokenizer: Tokenizer) throws -> [Int] {
    let tokens = tokenizer.encode(text)
    guard !tokens.isEmpty else { throw WorkbenchError("--text: the text encodes to no tokens") }
    return tokens
}
