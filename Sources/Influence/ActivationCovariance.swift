import Model

/// Accumulates A = E[ã ãᵀ] over real tokens for chosen linear layers, where ã is
/// the layer's input with a 1 appended when the layer has a bias (methods.md §3,
/// EK-FAC's input factor). Collected through the model's linear tap, so it works
/// with any forward pass, hooks and adapters included.
public final class ActivationCovariance {
    public let modules: [LinearID]
    /// Sum of ã ãᵀ per module, [n, n] row-major with n = in (+1 with bias).
    public private(set) var sums: [LinearID: [Double]] = [:]
    public private(set) var dims: [LinearID: Int] = [:]
    public private(set) var tokenCount = 0

    public init(model: TransformerModel, modules: [LinearID]) {
        self.modules = modules
        for id in modules {
            let lw = model.weights.blocks[id.layer].linear(id.site)
            let n = lw.inFeatures + (lw.bias == nil ? 0 : 1)
            dims[id] = n
            sums[id] = [Double](repeating: 0, count: n * n)
        }
    }

    /// The MLP linears (gate, up, down) of every block: the default tracked set.
    public static func mlpModules(of config: ModelConfig) -> [LinearID] {
        (0..<config.layerCount).flatMap { l in [LinearSite.gate, .up, .down].map { LinearID(layer: l, site: $0) } }
    }

    /// Hooks that feed this accumulator; run forward passes with them.
    public func hooks() -> ForwardHooks {
        var hooks = ForwardHooks()
        let tracked = Set(modules)
        hooks.linearTap = { [unowned self] id, view in
            guard tracked.contains(id) else { return }
            self.accumulate(id, view)
        }
        hooks.residualReader = { [unowned self] index, view in
            if index == 0 { self.tokenCount += view.layout.isReal.filter { $0 }.count }
        }
        return hooks
    }

    /// Adds XᵀX for the real rows X of this call (one GEMM, float32), into float64 sums.
    private func accumulate(_ id: LinearID, _ view: ActivationView) {
        let n = dims[id]!
        let width = view.width
        let realRows = (0..<view.rows).filter { view.layout.isReal[$0] }
        guard !realRows.isEmpty else { return }
        let m = realRows.count
        var x = [Float](repeating: 1, count: m * n)
        for (i, r) in realRows.enumerated() {
            let row = view.row(r)
            for j in 0..<width { x[i * n + j] = row[j] }
        }
        var gram = [Float](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { xp in
            gram.withUnsafeMutableBufferPointer { g in
                sgemm(transA: true, m: n, n: n, k: m, a: xp.baseAddress!, lda: n,
                      b: xp.baseAddress!, ldb: n, c: g.baseAddress!, ldc: n)
            }
        }
        sums[id]!.withUnsafeMutableBufferPointer { s in
            for i in 0..<(n * n) { s[i] += Double(gram[i]) }
        }
    }

    /// E[ã ãᵀ] for one module, symmetrised, [n, n].
    public func covariance(_ id: LinearID) -> [Double] {
        let n = dims[id]!
        var c = sums[id]!
        let scale = tokenCount > 0 ? 1 / Double(tokenCount) : 0
        // Symmetrise: (C + Cᵀ) / 2 removes rounding asymmetry from the GEMM.
        for i in 0..<n {
            for j in i..<n {
                let v = 0.5 * (c[i * n + j] + c[j * n + i]) * scale
                c[i * n + j] = v
                c[j * n + i] = v
            }
        }
        return c
    }
}
