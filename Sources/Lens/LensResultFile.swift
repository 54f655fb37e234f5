import Foundation
import Model
import Formats
import Tokenizers

/// Writes lens runs over one or more prompts into an HDF5 file (docs/formats.md,
/// "lens run"). Prompts of different lengths are padded to the longest: ids with
/// −1, numbers with NaN, strings with "".
public enum LensResultFile {
    public static func write(_ results: [LogitLensResult], prompts: [String], tokenizer: Tokenizer?,
                             model: TransformerModel, target: Int?, tunedLens: String?, to path: String) throws {
        guard let first = results.first else { throw WorkbenchError("no lens results to write", file: path) }
        let N = results.count, S = first.siteCount, k = first.topIDs.first?.first?.count ?? 0
        let T = results.map(\.tokens.count).max()!
        let file = try HDF5Writer(path: path)
        try Provenance(model: model).write(to: file)
        try file.setAttribute("lens", .string(tunedLens == nil ? "logit" : "tuned"))
        if let tunedLens { try file.setAttribute("tuned_lens_file", .string(tunedLens)) }
        try file.setAttribute("kl_direction", .string("KL(final || site), nats"))
        try file.writeStrings("prompts", prompts)
        try file.writeStrings("sites", first.sites.map(\.description))
        try file.writeInt32("lengths", shape: [N], results.map(\.tokens.count))
        var ids = [Int](repeating: -1, count: N * T)
        var tokenText = [String](repeating: "", count: N * T)
        for (n, r) in results.enumerated() {
            for (t, id) in r.tokens.enumerated() {
                ids[n * T + t] = id
                tokenText[n * T + t] = tokenizer?.decode([id]) ?? ""
            }
        }
        try file.writeInt32("input_ids", shape: [N, T], ids)
        try file.writeStrings("input_tokens", shape: [N, T], tokenText)

        // [N, S, T, k] and [N, S, T] arrays, padded.
        func cells<V>(_ pad: V, _ value: (LogitLensResult, Int, Int) -> V) -> [V] {
            var out = [V](repeating: pad, count: N * S * T)
            for (n, r) in results.enumerated() {
                for s in 0..<S { for t in 0..<r.tokens.count { out[(n * S + s) * T + t] = value(r, s, t) } }
            }
            return out
        }
        func topCells<V>(_ pad: V, _ value: (LogitLensResult, Int, Int, Int) -> V) -> [V] {
            var out = [V](repeating: pad, count: N * S * T * k)
            for (n, r) in results.enumerated() {
                for s in 0..<S { for t in 0..<r.tokens.count { for j in 0..<k { out[((n * S + s) * T + t) * k + j] = value(r, s, t, j) } } }
            }
            return out
        }
        let shape4 = [N, S, T, k], shape3 = [N, S, T]
        try file.writeInt32("top_ids", shape: shape4, topCells(-1) { r, s, t, j in r.topIDs[s][t][j] })
        try file.writeFloats("top_probs", shape: shape4, topCells(Float.nan) { r, s, t, j in r.topProbabilities[s][t][j] })
        try file.writeStrings("top_tokens", shape: shape4, topCells("") { r, s, t, j in tokenizer?.decode([r.topIDs[s][t][j]]) ?? "" })
        try file.writeFloats("entropy", shape: shape3, cells(Float.nan) { r, s, t in r.entropy[s][t] })
        try file.writeFloats("kl_to_final", shape: shape3, cells(Float.nan) { r, s, t in r.klToFinal[s][t] })
        try file.writeFloats("final_top_prob", shape: shape3, cells(Float.nan) { r, s, t in r.finalTopProbability[s][t] })
        if let target {
            try file.setAttribute("target_id", .int(target))
            if let tokenizer { try file.setAttribute("target_token", .string(tokenizer.decode([target]))) }
            try file.writeFloats("target_prob", shape: shape3, cells(Float.nan) { r, s, t in r.targetProbability![s][t] })
            try file.writeFloats("target_logprob", shape: shape3, cells(Float.nan) { r, s, t in r.targetLogProbability![s][t] })
            try file.writeInt32("target_rank", shape: shape3, cells(-1) { r, s, t in r.targetRank![s][t] })
        }
        try file.commit()
    }
}
