import ArgumentParser
import CLICommon
import Foundation
import Lens
import Model
import Steering
import Tokenizers

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The logit lens over prompts: top tokens, entropy and KL to the final layer at every site and position.",
        discussion: """
        Sites (--sites, comma-separated): post = the output of each block (with the embedding first: \
        L + 1 rows), pre = the residual entering each block, mid = after a block's attention, before \
        its MLP. The final norm is applied once to each residual before W_U, so the last row \
        reproduces the model's own next-token distribution. With --tuned, each residual goes through \
        its tuned-lens translator first (see `lens tune`). See docs/lens.md and docs/formats.md.
        """)

    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "A text file with one prompt per line (blank lines skipped).") var batch: String?
    @Option(help: "Token ids instead of text, comma-separated (no tokenizer needed).") var ids: String?
    @Option(help: "Hugging Face model directory or GGUF file (default: the model a given run recorded, else the embedded model).") var model: String?
    @Option(help: "A token to follow: text that encodes to one token (e.g. \" 42\") or #ID.") var target: String?
    @Option(help: "Top tokens kept per cell.") var topK: Int = 5
    @Option(help: "Where to read: any of pre, mid, post, comma-separated.") var sites: String = "post"
    @Option(help: "Apply the translators of this tuned-lens file (from `lens tune`).") var tuned: String?
    @Option(help: "Read the model with a trained adapter applied: a steer run directory (steering vectors, LoRA/TinyLoRA, ReFT interventions), a PEFT directory or a vector file. ReFT acts on the prompt's first/last positions, here the whole text.") var adapter: String?
    @Option(help: "Write the lens to this HDF5 file.") var out: String?
    @Option(help: "Write the layer × position heatmap to this SVG file.") var svg: String?
    @Option(help: "Heatmap colour: prob (of the final top token) or kl.") var svgMetric: String = "prob"
    @Flag(help: "Print JSON instead of the table.") var json = false

    func run() throws {
        let (source, loaded) = try openModel(model ?? adapter.flatMap(RunDirectory.recordedModel(for:)))
        let applied = try adapter.map { try AppliedAdapter.load($0, model: loaded) }
        let m = applied?.model ?? loaded
        if let applied, !json { printError("adapter: \(applied.description)") }
        let inputs = [prompt != nil, batch != nil, ids != nil].filter { $0 }.count
        guard inputs == 1 else { throw WorkbenchError("give exactly one of --prompt, --batch or --ids") }
        let tokenizer = ids == nil ? try source.loadTokenizer() : try? source.loadTokenizer()
        guard let metric = LensHeatmap.Metric(rawValue: svgMetric) else { throw WorkbenchError("--svg-metric: '\(svgMetric)' is not prob or kl") }
        var kinds = Set<LensSite.Kind>()
        for name in sites.split(separator: ",") {
            guard let kind = LensSite.Kind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw WorkbenchError("--sites: '\(name)' is not pre, mid or post")
            }
            kinds.insert(kind)
        }
        guard !kinds.isEmpty else { throw WorkbenchError("--sites names no site") }

        var prompts: [(text: String, tokens: [Int])] = []
        if let ids {
            let tokens = try parseIDs(ids, option: "--ids")
            prompts = [(tokenizer?.decode(tokens) ?? ids, tokens)]
        } else {
            let texts = try prompt.map { [$0] } ?? readUTF8(batch!).split(separator: "\n").map(String.init)
                .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            guard !texts.isEmpty else { throw WorkbenchError("no prompts", file: batch) }
            prompts = texts.map { ($0, tokenizer!.encode($0)) }
        }
        for (i, p) in prompts.enumerated() where p.tokens.isEmpty {
            throw WorkbenchError("prompt \(i + 1) encodes to no tokens", file: batch)
        }
        let targetID = try target.map { try resolveToken($0, tokenizer: tokenizer, vocabSize: m.config.vocabSize) }
        let tunedLens = try tuned.map { try TunedLens(path: $0, model: m) }
        let options = LogitLensOptions(k: topK, target: targetID, siteKinds: kinds)

        var results: [LogitLensResult] = []
        for (i, p) in prompts.enumerated() {
            if prompts.count > 1 && !json { printError("lens \(i + 1)/\(prompts.count)") }
            results.append(try LogitLensRun.run(model: m, tokens: p.tokens, options: options, tunedLens: tunedLens,
                                                hooks: applied?.hooks ?? ForwardHooks()))
        }
        if json {
            printJSON(results, prompts: prompts.map(\.text), tokenizer: tokenizer)
        } else if results.count <= 8 {
            for (r, p) in zip(results, prompts) { printTable(r, prompt: p.text, tokenizer: tokenizer, target: targetID) }
        } else {
            print("\(results.count) prompts; tables are shown for up to 8 (see --out)")
        }
        if let out {
            try LensResultFile.write(results, prompts: prompts.map(\.text), tokenizer: tokenizer, model: m,
                                     target: targetID, tunedLens: tuned, to: out)
            if !json { print("wrote \(out)") }
        }
        if let svg {
            let panels = zip(results, prompts).map { r, p in
                LensHeatmap.Panel(title: p.text, result: r) { shown($0, tokenizer) }
            }
            try writeFileAtomically(Data(LensHeatmap.svg(panels: panels, metric: metric).utf8), to: svg)
            if !json { print("wrote \(svg)") }
        }
    }

    func printTable(_ r: LogitLensResult, prompt: String, tokenizer: Tokenizer?, target: Int?) {
        print("\n\(visible(prompt))")
        print(LensText.table(r) { shown($0, tokenizer) })
        if let target {
            print("target \(shown(target, tokenizer)) at the last position, by site: "
                  + (0..<r.siteCount).map { String(format: "%.3f", r.targetProbability![$0][r.tokens.count - 1]) }.joined(separator: " "))
        }
    }

    func printJSON(_ results: [LogitLensResult], prompts: [String], tokenizer: Tokenizer?) {
        let forward = results.reduce(0) { $0 + $1.forwardSeconds }, lens = results.reduce(0) { $0 + $1.lensSeconds }
        let items = zip(results, prompts).map { r, prompt -> String in
            let cells = (0..<r.siteCount).map { s in "[" + (0..<r.tokens.count).map { t in
                "{\"top\": \(r.topIDs[s][t]), \"probs\": \(r.topProbabilities[s][t]), \"entropy\": \(r.entropy[s][t]), \"kl\": \(r.klToFinal[s][t])"
                + (r.targetProbability == nil ? "" : ", \"target_prob\": \(r.targetProbability![s][t]), \"target_rank\": \(r.targetRank![s][t])") + "}"
            }.joined(separator: ", ") + "]" }
            return "{\"prompt\": \(jsonString(prompt)), \"tokens\": \(r.tokens), \"sites\": [" + r.sites.map { "\"\($0)\"" }.joined(separator: ", ")
                + "], \"cells\": [" + cells.joined(separator: ", ") + "]}"
        }
        print("{\"prompts\": [" + items.joined(separator: ", ") + "], "
              + "\"seconds\": {\"forward\": \(forward), \"lens\": \(lens), \"total\": \(forward + lens)}}")
    }
}

/// A token named on the command line: text that encodes to exactly one token, or #ID.
func resolveToken(_ text: String, tokenizer: Tokenizer?, vocabSize: Int) throws -> Int {
    var id: Int
    if text.hasPrefix("#"), let n = Int(text.dropFirst()) {
        id = n
    } else {
        guard let tokenizer else { throw WorkbenchError("--target '\(text)': the model has no tokenizer.json; give #ID") }
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        guard ids.count == 1 else { throw WorkbenchError("--target '\(text)' encodes to \(ids.count) tokens \(ids); give one token or #ID") }
        id = ids[0]
    }
    guard id >= 0 && id < vocabSize else { throw WorkbenchError("--target id \(id) is outside the vocabulary (0..<\(vocabSize))") }
    return id
}
