import Foundation
import Model

/// A tracked linear layer y = W x (+ b): EK-FAC works on its input a (with a 1
/// appended when there is a bias, so the bias is one more column of W) and its
/// output gradient g.
public struct TrackedModule: Hashable, Sendable {
    public let id: LinearID
    /// Columns of the gradient matrix: in features (+1 with bias).
    public let inputDimension: Int
    public let outputDimension: Int
    public let hasBias: Bool
    public var name: String { id.description }
    public var parameterCount: Int { inputDimension * outputDimension }

    public init(model: TransformerModel, id: LinearID) {
        let lw = model.weights.blocks[id.layer].linear(id.site)
        self.id = id
        hasBias = lw.bias != nil
        inputDimension = lw.inFeatures + (hasBias ? 1 : 0)
        outputDimension = lw.outFeatures
    }

    /// `--modules`: mlp (gate, up, down of every block; the default), attention (q, k, v, o),
    /// all, or a comma-separated list of Hugging Face prefixes / site names (e.g. "down_proj").
    public static func select(_ spec: String, model: TransformerModel) throws -> [TrackedModule] {
        let L = model.config.layerCount
        let mlp: [LinearSite] = [.gate, .up, .down], attention: [LinearSite] = [.q, .k, .v, .o]
        var ids: [LinearID] = []
        for part in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch part {
            case "mlp": ids += (0..<L).flatMap { l in mlp.map { LinearID(layer: l, site: $0) } }
            case "attention": ids += (0..<L).flatMap { l in attention.map { LinearID(layer: l, site: $0) } }
            case "all": ids += (0..<L).flatMap { l in (attention + mlp).map { LinearID(layer: l, site: $0) } }
            default:
                if let site = LinearSite(rawValue: part) {
                    ids += (0..<L).map { LinearID(layer: $0, site: site) }
                } else if let id = (0..<L).lazy.flatMap({ l in (attention + mlp).map { LinearID(layer: l, site: $0) } })
                            .first(where: { $0.description == part }) {
                    ids.append(id)
                } else {
                    throw WorkbenchError("--modules: '\(part)' is not mlp, attention, all, a projection name (gate_proj, q_proj, ...) or a module such as model.layers.0.mlp.down_proj")
                }
            }
        }
        var seen = Set<LinearID>()
        let unique = ids.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { throw WorkbenchError("--modules selects no module") }
        // Depth order, then the order of the sites within a block.
        let order = attention + mlp
        return unique.sorted { ($0.layer, order.firstIndex(of: $0.site)!) < ($1.layer, order.firstIndex(of: $1.site)!) }
            .map { TrackedModule(model: model, id: $0) }
    }
}

/// Per-token inputs a [rows, inputDimension] and output gradients g [rows, outputDimension]
/// of one tracked module for one sequence.
public struct ModuleActivity {
    public var a: [Float]
    public var g: [Float]
    public var rows: Int
}

/// Which labels the loss uses.
public enum LabelSource: Sendable {
    /// The document's own next tokens (empirical Fisher; always for scoring).
    case data
    /// Labels drawn from the model's own next-token distribution (true Fisher).
    case sampled(seed: UInt64)
}

/// Runs forward and backward on one sequence and hands back, per tracked module, the
/// inputs and output gradients of the summed cross-entropy over the labelled positions.
/// One implementation serves the fit (covariances and Λ), the queries and the documents.
public struct GradientCapture {
    public let model: TransformerModel
    public let modules: [TrackedModule]

    public init(model: TransformerModel, modules: [TrackedModule]) {
        self.model = model
        self.modules = modules
    }

    /// `labelFrom`: the first position whose next token is a label (0 for a document,
    /// promptCount − 1 for a query). Returns the summed loss in nats and the activity.
    /// `labelMask`, when given, keeps the loss of position t (predicting token t + 1) only where it is true.
    public func run(tokens: [Int], labelFrom: Int = 0, labelMask: [Bool]? = nil, labels source: LabelSource = .data) throws
        -> (loss: Double, activity: [LinearID: ModuleActivity]) {
        let T = tokens.count, V = model.config.vocabSize
        let batch = TokenBatch(tokens)
        let record = ForwardRecord()
        let out = try model.forward(batch, logits: .all, record: record)
        var labels = [Int?](repeating: nil, count: T)
        for t in max(0, labelFrom)..<max(0, T - 1) where labelMask?[t] ?? true { labels[t] = tokens[t + 1] }
        if case .sampled(let seed) = source {
            var rng = SeededGenerator(seed: seed)
            for t in 0..<T where labels[t] != nil {
                labels[t] = TokenDistribution.drawExact(out.logits!.data + t * V, count: V, using: &rng)
            }
        }
        let (loss, gradient) = CrossEntropy.lossAndGradient(logits: out.logits!, labels: labels)
        var activity: [LinearID: ModuleActivity] = [:]
        let tracked = Dictionary(uniqueKeysWithValues: modules.map { ($0.id, $0) })
        var options = BackwardOptions()
        options.linearGradientTap = { id, a, g in
            guard let module = tracked[id] else { return }
            let n = module.inputDimension, rows = a.rows
            var input = [Float](repeating: 1, count: rows * n)   // the appended 1 stays for a bias
            for r in 0..<rows { for j in 0..<a.width { input[r * n + j] = a.pointer[r * a.width + j] } }
            activity[id] = ModuleActivity(a: input, g: Array(UnsafeBufferPointer(start: g.pointer, count: rows * g.width)), rows: rows)
        }
        try model.backward(record, logitGradient: gradient, options: options)
        return (loss, activity)
    }
}

/// G = gᵀ a: the gradient of the loss with respect to the module's weight ([out, in]).
public func weightGradient(_ activity: ModuleActivity, _ module: TrackedModule) -> [Float] {
    var G = [Float](repeating: 0, count: module.parameterCount)
    G.withUnsafeMutableBufferPointer { weightGradient(activity, module, into: $0.baseAddress!) }
    return G
}

/// G = gᵀ a written to `out` ([out, in] floats).
public func weightGradient(_ activity: ModuleActivity, _ module: TrackedModule, into out: UnsafeMutablePointer<Float>) {
    let (n, o) = (module.inputDimension, module.outputDimension)
    sgemm(transA: true, m: o, n: n, k: activity.rows, a: activity.g, lda: o, b: activity.a, ldb: n, c: out, ldc: n)
}
