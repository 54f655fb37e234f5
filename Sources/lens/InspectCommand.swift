import ArgumentParser
import CLICommon
import Foundation
import Lens
import Model

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
