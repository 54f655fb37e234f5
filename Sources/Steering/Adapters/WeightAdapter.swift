import Foundation
import Model

/// The weight adapters of methods.md §2.
public enum AdapterKind: String, Sendable, Codable, CaseIterable {
    /// ΔW = (α/r) B A, both factors trained (A Kaiming-uniform, B zero, as PEFT initialises them).
    case lora
    /// ΔW = U_r Σ_r R V_rᵀ from the exact top-r SVD of W; only the r × r R is trained (from zero).
    case loraxs
    /// ΔW = U_r Σ_r (Σ_i v_i P_i) V_rᵀ; fixed random P [u, r, r] ~ N(0, 1/r); v [u] from zero,
    /// possibly shared between modules.
    case tinylora
}

/// How modules that share one TinyLoRA vector are grouped.
public enum TyingOrder: String, Sendable, Codable, CaseIterable {
    /// Neighbouring modules in model order (block 0's q, k, v, o, gate, up, down, then block 1's…):
    /// the paper's better choice, and PEFT's.
    case depth
    /// Modules of one type (all q projections, …) in block order.
    case type
}

/// What an adapter run trains (the run's config.json keeps it).
public struct AdapterSettings: Sendable, Codable, Equatable {
    public var kind: AdapterKind
    /// Adapted linears per block, as Hugging Face names them (q_proj … down_proj), in model order.
    public var targets: [String]
    /// Adapted blocks (nil: all).
    public var layers: [Int]?
    public var rank: Int
    /// LoRA's α (scale α/r).
    public var alpha: Float
    /// TinyLoRA's trainable values per group.
    public var u: Int
    /// Modules sharing one TinyLoRA vector (0: all of them).
    public var tie: Int
    public var tyingOrder: TyingOrder
    /// Seeds LoRA's A and TinyLoRA's projections (module i draws from seed + i).
    public var seed: UInt64

    public init(kind: AdapterKind, targets: [String] = LinearSite.allCases.map(\.rawValue), layers: [Int]? = nil,
                rank: Int? = nil, alpha: Float? = nil, u: Int = 13, tie: Int = 1, tyingOrder: TyingOrder = .depth,
                seed: UInt64 = 0) {
        self.kind = kind; self.targets = targets; self.layers = layers
        let r = rank ?? (kind == .lora ? 8 : 2)
        self.rank = r; self.alpha = alpha ?? Float(r); self.u = u; self.tie = tie
        self.tyingOrder = tyingOrder; self.seed = seed
    }

    /// "all-linear" or a comma-separated list of q, k, v, o, gate, up, down (with or without _proj).
    public static func parseTargets(_ text: String) throws -> [String] {
        if text == "all-linear" || text == "all" { return LinearSite.allCases.map(\.rawValue) }
        var chosen = Set<LinearSite>()
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let site = LinearSite(rawValue: part) ?? LinearSite(rawValue: part + "_proj") else {
                throw WorkbenchError("--targets: '\(part)' is not one of q, k, v, o, gate, up, down or all-linear")
            }
            chosen.insert(site)
        }
        guard !chosen.isEmpty else { throw WorkbenchError("--targets: no module given") }
        return LinearSite.allCases.filter(chosen.contains).map(\.rawValue)
    }
}

/// One adapted linear layer.
public struct AdaptedModule {
    public let id: LinearID
    enum Factors {
        case lora(LoRADelta, scale: Float)
        case projected(ProjectedCoreDelta, group: Int)
    }
    let factors: Factors

    var delta: any FactoredWeightDelta {
        switch factors {
        case .lora(let d, _): return d
        case .projected(let d, _): return d
        }
    }
    var scale: Float {
        if case .lora(_, let s) = factors { return s }
        return 1
    }
    /// v (TinyLoRA) or R (LoRA-XS, row-major) of a projected-core module; nil for LoRA.
    public var coreParameter: Parameter? {
        if case .projected(let d, _) = factors { return d.v }
        return nil
    }
}

/// LoRA, LoRA-XS or TinyLoRA on chosen linear layers (methods.md §2): a `Trainable` whose
/// weight deltas the forward and backward passes apply through hooks; W is never modified.
public final class WeightAdapter: Trainable {
    public let kind: AdapterKind
    public let modules: [AdaptedModule]
    public let parameters: [Parameter]

    init(kind: AdapterKind, modules: [AdaptedModule]) {
        self.kind = kind
        self.modules = modules
        var seen = Set<ObjectIdentifier>(), parameters: [Parameter] = []
        for m in modules {
            let own: [Parameter]
            switch m.factors {
            case .lora(let d, _): own = [d.a, d.b]
            case .projected(let d, _): own = [d.v]
            }
            for p in own where seen.insert(ObjectIdentifier(p)).inserted { parameters.append(p) }
        }
        self.parameters = parameters
    }

    public func attach(to hooks: inout ForwardHooks) {
        for m in modules { hooks.add(m.delta, to: m.id, scale: m.scale) }
    }

    /// The adapted linears in model order: block by block, q k v o gate up down.
    public static func moduleIDs(_ settings: AdapterSettings, config: ModelConfig) throws -> [LinearID] {
        let L = config.layerCount
        let layers = settings.layers ?? Array(0..<L)
        guard !layers.isEmpty, layers.allSatisfy({ $0 >= 0 && $0 < L }), Set(layers).count == layers.count else {
            throw WorkbenchError("--layers: each block once, between 0 and \(L - 1)")
        }
        let sites = try settings.targets.map { name -> LinearSite in
            guard let s = LinearSite(rawValue: name) else { throw WorkbenchError("'\(name)' is not a linear layer name") }
            return s
        }
        return layers.sorted().flatMap { l in LinearSite.allCases.filter(sites.contains).map { LinearID(layer: l, site: $0) } }
    }

    /// Group of each module (in `moduleIDs` order) when `tie` modules share one vector.
    public static func groups(of ids: [LinearID], tie: Int, order: TyingOrder) -> [Int] {
        let n = tie <= 0 ? ids.count : tie
        var ordered = Array(ids.indices)
        if order == .type {
            let rank = Dictionary(uniqueKeysWithValues: LinearSite.allCases.enumerated().map { ($1, $0) })
            ordered.sort { (rank[ids[$0].site]!, ids[$0].layer) < (rank[ids[$1].site]!, ids[$1].layer) }
        }
        var groups = [Int](repeating: 0, count: ids.count)
        for (position, index) in ordered.enumerated() { groups[index] = position / n }
        return groups
    }

    /// A fresh adapter for `model`: zero ΔW, so the adapted model starts as the base model.
    public static func initialise(_ settings: AdapterSettings, model: TransformerModel) throws -> WeightAdapter {
        let ids = try moduleIDs(settings, config: model.config)
        let r = settings.rank
        guard r >= 1 else { throw WorkbenchError("--rank must be at least 1") }
        var modules: [AdaptedModule] = []
        switch settings.kind {
        case .lora:
            guard settings.alpha > 0, settings.alpha.isFinite else { throw WorkbenchError("--alpha must be positive") }
            for (i, id) in ids.enumerated() {
                let lw = model.weights.blocks[id.layer].linear(id.site)
                guard r <= min(lw.inFeatures, lw.outFeatures) else {
                    throw WorkbenchError("--rank \(r) exceeds \(id)'s size \(lw.outFeatures) × \(lw.inFeatures)")
                }
                // Kaiming-uniform with a = √5 (PEFT's and torch.nn.Linear's): U(−1/√in, 1/√in).
                var g = SeededGenerator(seed: settings.seed &+ UInt64(i))
                let bound = 1 / Float(lw.inFeatures).squareRoot()
                let a = (0..<(r * lw.inFeatures)).map { _ in (2 * g.nextUnitFloat() - 1) * bound }
                let delta = LoRADelta(a: Parameter(name: "lora.\(id).A", value: Tensor(shape: [r, lw.inFeatures], values: a), decays: true),
                                      b: Parameter(name: "lora.\(id).B", value: Tensor(zeros: [lw.outFeatures, r]), decays: true))
                modules.append(AdaptedModule(id: id, factors: .lora(delta, scale: settings.alpha / Float(r))))
            }
        case .loraxs, .tinylora:
            let tiny = settings.kind == .tinylora
            let u = tiny ? settings.u : r * r
            guard u >= 1 else { throw WorkbenchError("--u must be at least 1") }
            let groups = tiny ? Self.groups(of: ids, tie: settings.tie, order: settings.tyingOrder) : Array(ids.indices)
            var vectors: [Int: Parameter] = [:]
            for (i, id) in ids.enumerated() {
                let (a, b) = try svdFactors(model.weights.blocks[id.layer].linear(id.site), rank: r, name: "\(id)")
                let projections: Tensor
                if tiny {
                    var g = SeededGenerator(seed: settings.seed &+ UInt64(i))
                    let std = 1 / Float(r).squareRoot()
                    projections = Tensor(shape: [u, r, r], values: (0..<(u * r * r)).map { _ in g.nextGaussian() * std })
                } else {
                    projections = standardBasis(rank: r)
                }
                let group = groups[i]
                let name = tiny ? "tinylora.v.\(group)" : "loraxs.\(id).R"
                let v = vectors[group] ?? Parameter(name: name, value: Tensor(zeros: [u]), decays: false)
                vectors[group] = v
                modules.append(AdaptedModule(id: id, factors: .projected(ProjectedCoreDelta(a: a, b: b, projections: projections, v: v),
                                                                         group: group)))
            }
        }
        return WeightAdapter(kind: settings.kind, modules: modules)
    }

    /// A = V_rᵀ [r, in] and B = U_r Σ_r [out, r] from the exact SVD of W (LAPACK), so B A is W's
    /// best rank-r approximation and B M A = U_r Σ_r M V_rᵀ.
    static func svdFactors(_ lw: LinearWeights, rank r: Int, name: String) throws -> (Tensor, Tensor) {
        let (out, inF) = (lw.outFeatures, lw.inFeatures)
        guard r <= min(out, inF) else { throw WorkbenchError("--rank \(r) exceeds \(name)'s size \(out) × \(inF)") }
        let (u, sigma, vt) = try LinearAlgebra.svd(lw.weight.values, rows: out, columns: inF)
        let p = min(out, inF)
        let a = Tensor(shape: [r, inF], values: Array(vt[0..<(r * inF)]))
        let b = Tensor(shape: [out, r], values: (0..<(out * r)).map { k in u[(k / r) * p + k % r] * sigma[k % r] })
        return (a, b)
    }

    /// P_{(j,k)} = e_j e_kᵀ for the r² index pairs in row-major order (LoRA-XS: v is R itself).
    static func standardBasis(rank r: Int) -> Tensor {
        var p = [Float](repeating: 0, count: r * r * r * r)
        for i in 0..<(r * r) { p[i * r * r + i] = 1 }
        return Tensor(shape: [r * r, r, r], values: p)
    }

    /// s ΔW [out, in] of module `m` as a dense matrix (B times A', no larger product formed).
    public func deltaMatrix(_ m: AdaptedModule, inFeatures: Int, outFeatures: Int) -> [Float] {
        let w = m.delta.dense(scale: m.scale)
        precondition(w.count == inFeatures * outFeatures, "\(m.id)'s ΔW is not \(outFeatures) × \(inFeatures)")
        return w
    }

    /// The model's weights with every s ΔW added (owned float32 copies; the base is untouched).
    public func mergedModel(_ model: TransformerModel) -> TransformerModel {
        let weights = model.weights.ownedCopy()
        for m in modules {
            let lw = weights.blocks[m.id.layer].linear(m.id.site)
            let delta = deltaMatrix(m, inFeatures: lw.inFeatures, outFeatures: lw.outFeatures)
            let w = lw.weight.mutableData
            for i in 0..<delta.count { w[i] += delta[i] }
        }
        return TransformerModel(config: model.config, weights: weights, directory: model.directory, storedDTypes: ["F32"])
    }
}
