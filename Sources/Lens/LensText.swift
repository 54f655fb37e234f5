import Foundation
import Model
import Formats

/// Terminal renderings shared by the `lens` command and `workbench demo`.
/// `show` turns a token id into a short visible string.
public enum LensText {
    /// Sites × positions, final layer on top; each cell: top token and its probability (%).
    public static func table(_ r: LogitLensResult, show: (Int) -> String, width: Int = 11) -> String {
        func cell(_ s: String) -> String { String(s.prefix(width)).padding(toLength: width, withPad: " ", startingAt: 0) }
        var lines = [cell("site") + " " + r.tokens.map { cell(show($0)) }.joined(separator: " ")]
        for s in stride(from: r.siteCount - 1, through: 0, by: -1) {
            let row = r.tokens.indices.map { t in
                cell(show(r.topIDs[s][t][0]) + String(format: " %.0f", 100 * r.topProbabilities[s][t][0]))
            }
            lines.append(cell("\(r.sites[s])") + " " + row.joined(separator: " "))
        }
        lines.append("cells: top next-token guess and its probability (%); the top row is the model's own output")
        return lines.joined(separator: "\n")
    }

    /// Promoted (+) and suppressed (−) tokens per vector and reading; for several vectors,
    /// the stable rank and the cosine between consecutive ones.
    public static func inspection(_ result: VectorInspection, perLayer: Bool, show: (Int) -> String) -> String {
        var lines: [String] = []
        for (i, readings) in result.readings.enumerated() where result.norms[i] > 0 {
            lines.append("\n\(perLayer ? "block \(i)" : "vector")  ‖v‖ = \(String(format: "%.4g", result.norms[i]))")
            for r in readings {
                let up = r.promoted.map { "\(show($0.id)) \(String(format: "%.3g", $0.score))" }.joined(separator: "  ")
                let down = r.suppressed.map { "\(show($0.id)) \(String(format: "%.3g", $0.score))" }.joined(separator: "  ")
                lines.append("  \(r.projection.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) + \(up)")
                lines.append("         − \(down)")
            }
        }
        let n = result.norms.count
        if n > 1 {
            lines.append("\nstable rank \(String(format: "%.3f", result.stableRank)); cosine between consecutive blocks: "
                         + (1..<n).map { String(format: "%.2f", result.cosines[$0 - 1][$0]) }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

extension VectorInspection {
    /// Writes the readings (docs/formats.md, "lens inspect").
    public func write(to path: String, model: TransformerModel, source: String) throws {
        let file = try HDF5Writer(path: path)
        try Provenance(model: model).write(to: file)
        try file.setAttribute("vector_source", .string(source))
        let n = norms.count
        try file.writeFloats("norms", shape: [n], norms)
        try file.writeFloats("cosines", shape: [n, n], cosines.flatMap { $0 })
        try file.setAttribute("stable_rank", .double(Double(stableRank)))
        for (pi, reading) in (readings.first ?? []).enumerated() {
            let name = reading.projection.rawValue, k = reading.promoted.count
            try file.writeInt32("\(name)/promoted_ids", shape: [n, k], readings.flatMap { $0[pi].promoted.map(\.id) })
            try file.writeFloats("\(name)/promoted_scores", shape: [n, k], readings.flatMap { $0[pi].promoted.map(\.score) })
            try file.writeInt32("\(name)/suppressed_ids", shape: [n, k], readings.flatMap { $0[pi].suppressed.map(\.id) })
            try file.writeFloats("\(name)/suppressed_scores", shape: [n, k], readings.flatMap { $0[pi].suppressed.map(\.score) })
        }
        try file.commit()
    }
}
