import ArgumentParser
import CLICommon
import Foundation
import Lens
import Model

@main
struct LensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lens",
        abstract: "Read vectors and hidden states through the logit lens.",
        discussion: "--model is optional everywhere: the embedded model is used without it.",
        version: WorkbenchVersion.current,
        subcommands: [Inspect.self, Run.self])

    static func main() { runCommand(LensCommand.self) }
}

/// A token as a short visible string: decoded text with visible whitespace.
func shown(_ id: Int, _ tokenizer: Tokenizer?) -> String {
    guard let tokenizer else { return "#\(id)" }
    return visible(tokenizer.decode([id]))
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which tokens a vector (or one vector per block) promotes and suppresses.",
        discussion: """
        VECTOR: raw float32 .bin ([d] or [L·d]), .npy ([d] or [L, d]), .safetensors (--tensor NAME, \
        or down_proj biases gathered per block), file.h5:/dataset, or a llama.cpp control-vector .gguf. \
        Readings: raw = W_U v (the steering paper's), normed = W_U (γ ⊙ v) through the final norm's \
        weight, cosine = cos(v, W_U[i]). For several vectors: norms, cosines between them, stable rank.
        """)

    @Argument(help: "The vector file.") var vector: String
    @Option(help: "Hugging Face model directory (default: the embedded model).") var model: String?
    @Option(help: "Tensor name inside a .safetensors file.") var tensor: String?
    @Option(name: .customLong("top-tokens"), help: "How many tokens to list per direction.") var topTokens: Int = 10
    @Option(help: "Readings to show: raw, normed, cosine (repeatable; default all).") var projection: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Also write the readings to this HDF5 file.") var out: String?

    func run() throws {
        let dir = try DefaultModel.resolve(model)
        let m = try TransformerModel.load(directory: dir)
        let tokenizer = try? Tokenizer.load(modelDirectory: dir)
        let vectors = try VectorFile.load(vector, tensor: tensor, config: m.config)
        let projections = try projection.isEmpty ? LensProjection.allCases : projection.map { name -> LensProjection in
            guard let p = LensProjection(rawValue: name) else { throw WorkbenchError("--projection: '\(name)' is not raw, normed or cosine") }
            return p
        }
        let result = VectorInspection.inspect(vectors.rows, model: m, k: topTokens, projections: projections)
        let label = { (i: Int) in vectors.isPerLayer ? "block \(i)" : "vector" }
        if json {
            var rows: [String] = []
            for (i, readings) in result.readings.enumerated() {
                let r = readings.map { reading -> String in
                    func list(_ t: [ScoredToken]) -> String {
                        "[" + t.map { "{\"id\": \($0.id), \"token\": \(jsonString(tokenizer?.decode([$0.id]) ?? "")), \"score\": \($0.score)}" }.joined(separator: ", ") + "]"
                    }
                    return "\"\(reading.projection.rawValue)\": {\"promoted\": \(list(reading.promoted)), \"suppressed\": \(list(reading.suppressed))}"
                }
                rows.append("{\"row\": \(i), \"norm\": \(result.norms[i]), " + r.joined(separator: ", ") + "}")
            }
            print("{\"source\": \(jsonString(vectors.source)), \"stable_rank\": \(result.stableRank), \"rows\": [" + rows.joined(separator: ", ") + "]}")
        } else {
            print("\(vectors.source): \(vectors.rows.count) vector(s) of \(m.config.hiddenSize) values")
            for (i, readings) in result.readings.enumerated() where result.norms[i] > 0 {
                print("\n\(label(i))  ‖v‖ = \(String(format: "%.4g", result.norms[i]))")
                for r in readings {
                    let up = r.promoted.map { "\(shown($0.id, tokenizer)) \(String(format: "%.3g", $0.score))" }.joined(separator: "  ")
                    let down = r.suppressed.map { "\(shown($0.id, tokenizer)) \(String(format: "%.3g", $0.score))" }.joined(separator: "  ")
                    print("  \(r.projection.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) + \(up)")
                    print("  \("".padding(toLength: 6, withPad: " ", startingAt: 0)) − \(down)")
                }
            }
            if vectors.rows.count > 1 {
                print("\nstable rank \(String(format: "%.3f", result.stableRank)); cosine between consecutive blocks: "
                      + (1..<vectors.rows.count).map { String(format: "%.2f", result.cosines[$0 - 1][$0]) }.joined(separator: " "))
            }
        }
        if let out {
            let file = try HDF5Writer(path: out)
            try Provenance(model: m).write(to: file)
            try file.setAttribute("vector_source", .string(vectors.source))
            let n = vectors.rows.count
            try file.writeFloats("norms", shape: [n], result.norms)
            try file.writeFloats("cosines", shape: [n, n], result.cosines.flatMap { $0 })
            try file.setAttribute("stable_rank", .double(Double(result.stableRank)))
            for (pi, p) in projections.enumerated() {
                let k = topTokens
                try file.writeInt32("\(p.rawValue)/promoted_ids", shape: [n, k], result.readings.flatMap { $0[pi].promoted.map(\.id) })
                try file.writeFloats("\(p.rawValue)/promoted_scores", shape: [n, k], result.readings.flatMap { $0[pi].promoted.map(\.score) })
                try file.writeInt32("\(p.rawValue)/suppressed_ids", shape: [n, k], result.readings.flatMap { $0[pi].suppressed.map(\.id) })
                try file.writeFloats("\(p.rawValue)/suppressed_scores", shape: [n, k], result.readings.flatMap { $0[pi].suppressed.map(\.score) })
            }
            try file.commit()
            if !json { print("\nwrote \(out)") }
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The logit lens over a prompt: top tokens, entropy and KL to the final layer at every layer and position.",
        discussion: """
        Layer 0 is the embedding output, layer l the output of block l; the final norm is applied to \
        each before W_U, so the last layer reproduces the model's logits. With --target, its \
        probability, log-probability and rank are reported too. See docs/formats.md for the HDF5 layout.
        """)

    @Option(help: "Prompt text.") var prompt: String
    @Option(help: "Hugging Face model directory (default: the embedded model).") var model: String?
    @Option(help: "A token to follow: text that encodes to one token (e.g. \" 42\") or #ID.") var target: String?
    @Option(help: "Top tokens kept per cell.") var topK: Int = 5
    @Option(help: "Write the lens to this HDF5 file.") var out: String?
    @Flag(help: "Print JSON instead of the table.") var json = false

    func run() throws {
        let dir = try DefaultModel.resolve(model)
        let m = try TransformerModel.load(directory: dir)
        let tokenizer = try Tokenizer.load(modelDirectory: dir)
        let tokens = tokenizer.encode(prompt)
        guard !tokens.isEmpty else { throw WorkbenchError("--prompt encodes to no tokens") }
        var targetID: Int?
        if let target {
            if target.hasPrefix("#"), let id = Int(target.dropFirst()) { targetID = id }
            else {
                let ids = tokenizer.encode(target, addSpecialTokens: false)
                guard ids.count == 1 else { throw WorkbenchError("--target '\(target)' encodes to \(ids.count) tokens \(ids); give one token or #ID") }
                targetID = ids[0]
            }
            guard targetID! >= 0 && targetID! < m.config.vocabSize else { throw WorkbenchError("--target id \(targetID!) is outside the vocabulary") }
        }
        let r = try LogitLensRun.run(model: m, tokens: tokens, k: topK, target: targetID)
        let T = tokens.count, L1 = r.layerCount
        if json {
            let cells = (0..<L1).map { l in "[" + (0..<T).map { t in
                "{\"top\": \(r.topIDs[l][t]), \"probs\": \(r.topProbabilities[l][t]), \"entropy\": \(r.entropy[l][t]), \"kl\": \(r.klToFinal[l][t])"
                + (targetID == nil ? "" : ", \"target_prob\": \(r.targetProbability![l][t]), \"target_rank\": \(r.targetRank![l][t])") + "}"
            }.joined(separator: ", ") + "]" }
            print("{\"tokens\": \(tokens), \"layers\": [" + cells.joined(separator: ", ") + "]}")
        } else {
            let width = 9
            func cell(_ s: String) -> String { String(s.prefix(width)).padding(toLength: width, withPad: " ", startingAt: 0) }
            print(cell("layer") + " " + tokens.map { cell(shown($0, tokenizer)) }.joined(separator: " "))
            for l in stride(from: L1 - 1, through: 0, by: -1) {
                let row = (0..<T).map { t -> String in
                    let top = r.topIDs[l][t][0]
                    return cell(shown(top, tokenizer) + String(format: " %.0f", 100 * r.topProbabilities[l][t][0]))
                }
                print(cell(l == L1 - 1 ? "\(l) final" : "\(l)") + " " + row.joined(separator: " "))
            }
            print("cells: top token and its probability (%) of the next token; rows: residual after block l (0 = embedding)")
            if let targetID {
                print("target \(shown(targetID, tokenizer)) at the last position, by layer: "
                      + (0..<L1).map { String(format: "%.3f", r.targetProbability![$0][T - 1]) }.joined(separator: " "))
            }
        }
        if let out {
            let k = topK
            let file = try HDF5Writer(path: out)
            try Provenance(model: m).write(to: file)
            try file.setAttribute("prompt", .string(prompt))
            try file.writeInt32("input_ids", shape: [1, T], tokens)
            try file.writeStrings("tokens", tokenizer.tokens(tokens))
            try file.writeInt32("top_ids", shape: [1, L1, T, k], r.topIDs.flatMap { $0.flatMap { $0 } })
            try file.writeFloats("top_probs", shape: [1, L1, T, k], r.topProbabilities.flatMap { $0.flatMap { $0 } })
            try file.writeStrings("top_tokens", r.topIDs.flatMap { $0.flatMap { $0.map { tokenizer.decode([$0]) } } })
            try file.writeFloats("entropy", shape: [1, L1, T], r.entropy.flatMap { $0 })
            try file.writeFloats("kl_to_final", shape: [1, L1, T], r.klToFinal.flatMap { $0 })
            if let targetID {
                try file.setAttribute("target_id", .int(targetID))
                try file.writeFloats("target_prob", shape: [1, L1, T], r.targetProbability!.flatMap { $0 })
                try file.writeFloats("target_logprob", shape: [1, L1, T], r.targetLogProbability!.flatMap { $0 })
                try file.writeInt32("target_rank", shape: [1, L1, T], r.targetRank!.flatMap { $0 })
            }
            try file.commit()
            if !json { print("wrote \(out)") }
        }
    }
}
