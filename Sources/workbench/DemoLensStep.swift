import CLICommon
import Foundation
import Lens
import Model
import Tokenizers

/// The demo's lens step: the logit lens over one prompt (table, HDF5, SVG) and
/// `lens inspect` of a direction: the mean residual of one prompt set minus that of another.
struct DemoLensStep {
    let model: TransformerModel
    let tokenizer: Tokenizer
    let out: String

    func show(_ id: Int) -> String { shown(id, tokenizer) }

    /// Returns the files written with a one-line description each.
    func run(prompt: String, tokens: [Int], setA: (name: String, prompts: [String]), setB: (name: String, prompts: [String])) throws -> [(String, String)] {
        let lens = try LogitLensRun.run(model: model, tokens: tokens, options: LogitLensOptions(k: 5))
        print("  \"\(prompt)\"")
        print(LensText.table(lens, show: show).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        let lensPath = (out as NSString).appendingPathComponent("lens.h5")
        let svgPath = (out as NSString).appendingPathComponent("lens.svg")
        try LensResultFile.write([lens], prompts: [prompt], tokenizer: tokenizer, model: model, target: nil, tunedLens: nil, to: lensPath)
        let panel = LensHeatmap.Panel(title: prompt, result: lens, show: show)
        try writeFileAtomically(Data(LensHeatmap.svg(panels: [panel], metric: .prob).utf8), to: svgPath)

        let vectors = try ResidualDirection.meanLastTokenDifference(
            model: model, setA.prompts.map { tokenizer.encode($0) }, setB.prompts.map { tokenizer.encode($0) })
        let vectorPath = (out as NSString).appendingPathComponent("vector.bin")
        try writeFileAtomically(vectors.flatMap { $0 }.withUnsafeBufferPointer { Data(buffer: $0) }, to: vectorPath)
        let inspection = VectorInspection.inspect(vectors, model: model, k: 6, projections: [.raw])
        let inspectPath = (out as NSString).appendingPathComponent("vector-lens.h5")
        try inspection.write(to: inspectPath, model: model, source: vectorPath)
        print("\n  direction = mean last-token residual of \(setA.prompts.count) \(setA.name) prompts − "
              + "\(setB.prompts.count) \(setB.name) prompts, per block; W_U v by block:")
        print(LensText.inspection(inspection, perLayer: true, show: show).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        return [
            (lensPath, "/top_ids [1, \(lens.siteCount), \(tokens.count), 5], /top_probs, /entropy, /kl_to_final (the lens above)"),
            (svgPath, "the lens as a layer × position heatmap (open in a browser)"),
            (vectorPath, "the direction, float32 [\(vectors.count), \(model.config.hiddenSize)]: `lens inspect \(vectorPath)`"),
            (inspectPath, "its readings: /raw/promoted_ids, /raw/suppressed_ids, /norms, /cosines"),
        ]
    }
}
