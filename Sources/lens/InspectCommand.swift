import ArgumentParser
import CLICommon
import Foundation
import Lens
import Steering
import Model
import Formats
import Tokenizers

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
    @Option(help: "Hugging Face model directory or GGUF file (default: the model a given run recorded, else the embedded model).") var model: String?
    @Option(help: "Tensor name inside a .safetensors file.") var tensor: String?
    @Option(name: .customLong("top-tokens"), help: "How many tokens to list per direction.") var topTokens: Int = 10
    @Option(help: "Readings to show: raw, normed, cosine (repeatable; default all).") var projection: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Also write the readings to this HDF5 file.") var out: String?

    func run() throws {
        let (source, m) = try openModel(model ?? RunDirectory.recordedModel(for: vector))
        let tokenizer = try? source.loadTokenizer()
        let vectors = try VectorFile.load(vector, tensor: tensor, config: m.config)
        let projections = try projection.isEmpty ? LensProjection.allCases : projection.map { name -> LensProjection in
            guard let p = LensProjection(rawValue: name) else { throw WorkbenchError("--projection: '\(name)' is not raw, normed or cosine") }
            return p
        }
        let result = VectorInspection.inspect(vectors.rows, model: m, k: topTokens, projections: projections)
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
            print(LensText.inspection(result, perLayer: vectors.isPerLayer) { shown($0, tokenizer) })
        }
        if let out {
            try result.write(to: out, model: m, source: vectors.source)
            if !json { print("\nwrote \(out)") }
        }
    }
}
