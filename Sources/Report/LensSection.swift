import Formats
import Foundation
import Model
import Tokenizers

/// What colours a lens grid's cells.
public enum LensColour: String, CaseIterable, Sendable { case probability, kl }

/// A `lens run` file (docs/lens.md): per prompt, the site × position grid, each cell coloured
/// by the probability of its top token (or by the KL to the model's output), showing that token,
/// with the top five and their probabilities on hover.
struct LensSection {
    let path: String
    var colourBy: LensColour = .probability

    static func matches(_ reader: HDF5Reader) -> Bool { reader.contains("sites") && reader.contains("top_probs") }

    func html() throws -> String {
        let h5 = try HDF5Reader(path: path)
        let prompts = try h5.readStrings("prompts"), sites = try h5.readStrings("sites")
        let lengths = try h5.readInts("lengths").values
        let inputTokens = try h5.readStrings("input_tokens")
        let (shape, probs) = try h5.readFloats("top_probs")
        let topTokens = try h5.readStrings("top_tokens")
        let kl = try h5.readFloats("kl_to_final").values
        guard shape.count == 4 else { throw WorkbenchError("top_probs should be [prompts, sites, positions, k], got \(shape)", file: path) }
        let (S, N, T, k) = (shape[0], shape[1], shape[2], shape[3])
        guard prompts.count == S, sites.count == N, lengths.count == S, inputTokens.count == S * T, topTokens.count == probs.count,
              kl.count == S * N * T, k >= 1, lengths.allSatisfy({ (0...T).contains($0) }) else {
            throw WorkbenchError("datasets disagree in shape (prompts \(prompts.count), sites \(sites.count), top_probs \(shape))", file: path)
        }
        let maxKL = max(kl.filter(\.isFinite).max() ?? 1, 1e-6)
        var s = "<section class=\"lens\"><h2>Logit lens: \(escape(path))</h2><p class=\"note\">Rows: sites from the embedding (bottom) "
            + "to the last block (top, the model's own output); columns: input positions. Each cell shows the top next-token guess "
            + "read at that site; colour: " + (colourBy == .probability ? "its probability (white 0 → blue 1)" : "KL(output ‖ site) in nats (white 0 → red \(formatted(Double(maxKL), 1)))")
            + ". Hover a cell for the top \(k) with probabilities and the KL.</p>"
        for p in 0..<S {
            let length = lengths[p]
            s += "<h3>\(escape(prompts[p]))</h3><table class=\"grid\"><tr><th>site</th>"
            s += (0..<length).map { t in "<th>\(escape(Tokenizer.visible(inputTokens[p * T + t])))</th>" }.joined() + "</tr>\n"
            for n in (0..<N).reversed() {
                s += "<tr><th>\(escape(sites[n]))</th>"
                for t in 0..<length {
                    let cell = ((p * N + n) * T + t)
                    let top = probs[cell * k], divergence = kl[cell]
                    let tip = (0..<k).map { j in "\(Tokenizer.visible(topTokens[cell * k + j])) \(String(format: "%.3f", probs[cell * k + j]))" }
                        .joined(separator: "\n") + String(format: "\nKL to the output %.3f nats", divergence)
                    let colour = colourBy == .probability ? tint(Double(top), blue) : tint(Double(divergence / maxKL), red)
                    let ink = colourBy == .probability && top > 0.6 ? "#fff" : "#1b1f24"
                    s += "<td class=\"cell\" style=\"background:\(colour);color:\(ink)\" title=\"\(escape(tip))\">"
                        + escape(Tokenizer.visible(topTokens[cell * k])) + "</td>"
                }
                s += "</tr>\n"
            }
            s += "</table>"
        }
        return s + "</section>"
    }
}
