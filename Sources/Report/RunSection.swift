import Formats
import Foundation
import Lens
import Model
import Tokenizers

/// A `steer train` run directory: the training curves, the evaluations, the trained vectors
/// through the lens, the settings (docs/steering.md, "Run directory").
struct RunSection {
    let directory: String

    static func matches(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("training.h5"))
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
    }

    func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func html() throws -> String {
        let config = try readFile(file("config.json"))
        guard let settings = try? JSONSerialization.jsonObject(with: config) as? [String: Any] else {
            throw WorkbenchError("not a run configuration (a JSON object)", file: file("config.json"))
        }
        let method = settings["method"] as? String ?? "?"
        var s = "<section class=\"run\"><h2>RL run: \(escape(directory))</h2>"
        s += "<p class=\"note\">method <code>\(escape(method))</code>, objective <code>\(escape(settings["objectiveName"] as? String ?? "?"))</code>, "
            + "model <code>\(escape(settings["modelDirectory"] as? String ?? "?"))</code>. Each point is one step: its prompts × group samples.</p>"
        s += try curves()
        s += try evaluations()
        if method == "vectors" { s += (try? vectorReadings(modelPath: settings["modelDirectory"] as? String)) ?? "" }
        s += "<h3>Settings</h3>" + htmlTable(["setting", "value"], flatten(settings).map { [escape($0.0), "<code>\(escape($0.1))</code>"] })
        return s + "</section>"
    }

    /// The per-step metrics of training.h5 as line charts.
    func curves() throws -> String {
        let h5 = try HDF5Reader(path: file("training.h5"))
        func series(_ name: String) -> [Double]? { h5.contains(name) ? try? h5.readDoubles(name).values : nil }
        guard let steps = series("step"), !steps.isEmpty else { return "<p>training.h5 holds no steps yet.</p>" }
        var charts: [String] = []
        func chart(_ title: String, _ yLabel: String, _ name: String, band: (String, String)? = nil, spread: String? = nil) {
            guard let y = series(name) else { return }
            var bandValues: [(Double, Double)]?
            if let (lo, hi) = band, let l = series(lo), let h = series(hi) { bandValues = Array(zip(l, h)) }
            if let spread, let sd = series(spread) { bandValues = zip(y, sd).map { ($0 - $1, $0 + $1) } }
            charts.append(LineChart(title: title, xLabel: "step", yLabel: yLabel,
                                    series: [.init(name: title, x: steps, y: y, band: bandValues)]).svg())
        }
        chart("reward (mean ± std)", "reward per sample", "reward_mean", spread: "reward_std")
        chart("accuracy", "fraction of samples right", "accuracy")
        chart("zero-spread groups", "fraction of groups", "zero_spread_fraction")
        chart("KL to the reference", "k3 per token (nats)", "kl")
        chart("entropy", "nats per token", "entropy")
        chart("completion length (mean, min–max)", "tokens", "completion_mean", band: ("completion_min", "completion_max"))
        chart("gradient norm", "L2 norm before clipping", "gradient_norm")
        chart("learning rate", "learning rate", "learning_rate")
        return "<h3>Training (\(steps.count) steps)</h3><div class=\"charts\">" + charts.joined() + "</div>"
    }

    /// eval.h5's history: greedy accuracy, mean@k and pass@k at each evaluation, with one
    /// standard error over the problems.
    func evaluations() throws -> String {
        guard FileManager.default.fileExists(atPath: file("eval.h5")) else {
            return "<h3>Evaluations</h3><p class=\"note\">No eval.h5: the run had no --eval problems.</p>"
        }
        let h5 = try HDF5Reader(path: file("eval.h5"))
        let k = Int(try h5.numberAttribute("k") ?? 0)
        let problems = h5.contains("problem_ids") ? try h5.readStrings("problem_ids").count : 0
        let steps = try h5.readDoubles("history/step").values
        let greedy = try h5.readDoubles("history/greedy_accuracy").values
        let mean = try h5.readDoubles("history/mean_at_k").values
        let pass = try h5.readDoubles("history/pass_at_k").values
        // One standard error of a proportion over P problems, √(p(1 − p)/P); for mean@k an upper
        // bound (the k samples of a problem are averaged first).
        func withError(_ p: Double) -> String {
            guard problems > 0 else { return formatted(p) }
            return formatted(p) + " ± " + formatted((p * (1 - p) / Double(problems)).squareRoot())
        }
        guard greedy.count == steps.count, mean.count == steps.count, pass.count == steps.count else {
            throw WorkbenchError("the history's datasets have different lengths", file: file("eval.h5"))
        }
        let rows = steps.indices.map { i in [formatted(steps[i], 0), withError(greedy[i]), withError(mean[i]), withError(pass[i])] }
        var s = "<h3>Evaluations (\(problems) held-out problems, k = \(k))</h3>"
        s += "<p class=\"note\">± one standard error over the problems, √(p(1 − p)/P) (for mean@k an upper bound).</p>"
        s += htmlTable(["step", "greedy accuracy", "mean@\(k)", "pass@\(k)"], rows)
        if steps.count > 1 {
            s += LineChart(title: "held-out evaluation", xLabel: "step", yLabel: "fraction right", series: [
                .init(name: "greedy", x: steps, y: greedy, color: "#0969da"),
                .init(name: "mean@\(k)", x: steps, y: mean, color: "#cf222e"),
                .init(name: "pass@\(k)", x: steps, y: pass, color: "#1a7f37"),
            ]).svg()
        }
        return s
    }

    /// The trained steering vectors through the logit lens of the run's model: per block, the
    /// vector's norm and the tokens W_U s promotes and suppresses most.
    func vectorReadings(modelPath: String?) throws -> String {
        guard let modelPath, FileManager.default.fileExists(atPath: file("vectors.bin")) else { return "" }
        let source = try ModelSource(modelPath)
        let model = try source.loadModel()
        let tokenizer = try? source.loadTokenizer()
        let rows = try VectorFile.load(file("vectors.bin"), config: model.config).rows
        let inspection = VectorInspection.inspect(rows, model: model, k: 6, projections: [.raw])
        func tokens(_ list: [ScoredToken]) -> String {
            list.map { t in
                let text = tokenizer.map { Tokenizer.visible($0.decode([t.id])) } ?? "#\(t.id)"
                return "<code title=\"id \(t.id), score \(formatted(Double(t.score), 3))\">\(escape(text))</code>"
            }.joined(separator: " ")
        }
        var table: [[String]] = []
        for (l, readings) in inspection.readings.enumerated() where inspection.norms[l] > 0 {
            table.append(["\(l)", formatted(Double(inspection.norms[l]), 3), tokens(readings[0].promoted), tokens(readings[0].suppressed)])
        }
        return "<h3>The trained vectors through the lens</h3><p class=\"note\">Per block l, W_U s_l (no final norm): the tokens the "
            + "vector promotes and suppresses most; hover a token for its id and score.</p>"
            + htmlTable(["block", "norm", "promoted", "suppressed"], table)
    }

    /// "a.b.c" → value rows of a nested JSON object, in key order.
    func flatten(_ object: [String: Any], prefix: String = "") -> [(String, String)] {
        object.keys.sorted().flatMap { key -> [(String, String)] in
            let name = prefix.isEmpty ? key : prefix + "." + key
            switch object[key] {
            case let nested as [String: Any]: return flatten(nested, prefix: name)
            case let list as [Any]: return [(name, list.map { "\($0)" }.joined(separator: ", "))]
            case let value?: return [(name, "\(value)")]
            default: return []
            }
        }
    }
}
