import Foundation

/// Names one linear layer: block index + which projection.
public struct LinearID: Hashable, Sendable, CustomStringConvertible {
    public var layer: Int
    public var site: LinearSite
    public init(layer: Int, site: LinearSite) { self.layer = layer; self.site = site }
    public var description: String { site.hfPrefix(layer: layer) }
}

/// Where in the batch the rows of an activation matrix come from. Activations
/// are [rows, width] with rows = batchSize × length, sequence-major.
public struct RowLayout: Sendable {
    public let batchSize: Int
    /// Positions per sequence processed in this call (new tokens when a cache is used).
    public let length: Int
    /// Whether row r is a real token (false for padding).
    public let isReal: [Bool]
    /// RoPE position of each row.
    public let positions: [Int]
    /// Prompt length of each sequence, in real tokens: positions below it are prompt
    /// positions (`RowSelection`). Set by the batch, else by the first call on a KV cache,
    /// else every real token of the call is prompt.
    public let promptLengths: [Int]
    /// Per row, when sequences share a prefix (`TokenBatch.sharedPrefix`): 0 for the shared
    /// prefix, k ≥ 1 for the k-th branch, which attends to the prefix and to itself only.
    /// nil: every sequence is one causal stream.
    public let segments: [Int]?
    /// The runs of `segments` that shared-prefix attention works through, derived once here.
    let branchRuns: Attention.BranchRuns?
    public var rows: Int { batchSize * length }

    public init(batchSize: Int, length: Int, isReal: [Bool], positions: [Int], promptLengths: [Int], segments: [Int]? = nil) {
        self.batchSize = batchSize; self.length = length; self.isReal = isReal
        self.positions = positions; self.promptLengths = promptLengths; self.segments = segments
        branchRuns = segments.map { Attention.BranchRuns(segments: $0, isReal: isReal, batchSize: batchSize, length: length) }
    }
}

/// A read-only view of a [rows, width] activation matrix handed to a hook.
public struct ActivationView {
    public let pointer: UnsafePointer<Float>
    public let rows: Int
    public let width: Int
    public let layout: RowLayout
    public func row(_ r: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: pointer + r * width, count: width)
    }
    /// Copies the view into a tensor of shape [batchSize, length, width].
    public func tensor() -> Tensor {
        Tensor(shape: [layout.batchSize, layout.length, width], storage: FloatStorage(copying: pointer, count: rows * width))
    }
}

/// A weight change ΔW for one linear layer supplied from outside (an adapter): the layer
/// computes y = x (W + Σ_k s_k ΔW_k)ᵀ + b, each delta with its own scale s_k, without W
/// ever being modified.
public protocol WeightDelta {
    /// Adds s · x ΔWᵀ to `output` ([rows, out]) for `input` ([rows, in]).
    func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                         output: UnsafeMutablePointer<Float>, outFeatures: Int, scale: Float)
    /// Backward: adds s · g ΔW to `inputGradient` ([rows, in]) for the layer's output
    /// gradient g ([rows, out]).
    func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                          inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int, scale: Float)
    /// Backward: accumulates the gradients of the delta's own parameters (if any) given the
    /// layer's input x and output gradient g.
    func accumulateGradients(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int, scale: Float)
}

extension WeightDelta {
    public func accumulateGradients(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                                    inFeatures: Int, outFeatures: Int, scale: Float) {}
}

/// A weight delta attached to a layer with its scale.
public struct ScaledWeightDelta {
    public let delta: any WeightDelta
    public let scale: Float
}

/// ΔW given as a dense [out, in] matrix.
public struct DenseWeightDelta: WeightDelta {
    public let delta: Tensor
    public init(_ delta: Tensor) { self.delta = delta }
    public func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                output: UnsafeMutablePointer<Float>, outFeatures: Int, scale: Float) {
        precondition(delta.shape == [outFeatures, inFeatures], "ΔW shape \(delta.shape) ≠ [\(outFeatures), \(inFeatures)]")
        sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, alpha: scale, a: input, lda: inFeatures,
              b: delta.data, ldb: inFeatures, beta: 1, c: output, ldc: outFeatures)
    }
    public func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                                 inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int, scale: Float) {
        sgemm(m: rows, n: inFeatures, k: outFeatures, alpha: scale, a: outputGradient, lda: outFeatures,
              b: delta.data, ldb: inFeatures, beta: 1, c: inputGradient, ldc: inFeatures)
    }
}

/// ΔW = B · A with A [r, in] and B [out, r] (LoRA-style; TinyLoRA folds its
/// U Σ (Σ v_i P_i) Vᵀ into such a pair). Costs O(rows · r · (in + out)).
public struct LowRankWeightDelta: WeightDelta {
    public let a: Tensor  // [r, in]
    public let b: Tensor  // [out, r]
    public init(a: Tensor, b: Tensor) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1], "ΔW = B·A needs A [r, in], B [out, r]")
        self.a = a; self.b = b
    }
    public func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                output: UnsafeMutablePointer<Float>, outFeatures: Int, scale: Float) {
        let r = a.shape[0]
        precondition(a.shape[1] == inFeatures && b.shape[0] == outFeatures, "low-rank ΔW does not fit [\(outFeatures), \(inFeatures)]")
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: rows * r)
        defer { tmp.deallocate() }
        sgemm(transB: true, m: rows, n: r, k: inFeatures, a: input, lda: inFeatures, b: a.data, ldb: inFeatures, c: tmp, ldc: r)
        sgemm(transB: true, m: rows, n: outFeatures, k: r, alpha: scale, a: tmp, lda: r, b: b.data, ldb: r, beta: 1, c: output, ldc: outFeatures)
    }
    public func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                                 inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int, scale: Float) {
        let r = a.shape[0]
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: rows * r)
        defer { tmp.deallocate() }
        // (g B) A
        sgemm(m: rows, n: r, k: outFeatures, a: outputGradient, lda: outFeatures, b: b.data, ldb: r, c: tmp, ldc: r)
        sgemm(m: rows, n: inFeatures, k: r, alpha: scale, a: tmp, lda: r, b: a.data, ldb: inFeatures, beta: 1, c: inputGradient, ldc: inFeatures)
    }
}

/// Everything a caller can attach to one forward pass. A hook is a value: the model code
/// is the same with or without it, and forward, generate and backward take the same hooks.
public struct ForwardHooks {
    /// Interventions on the residual stream, keyed by residual index r in 0...L (r = 0: the
    /// embedding output, r = l + 1: the output of block l), applied in list order.
    public private(set) var residualInterventions: [Int: [any ResidualIntervention]] = [:]
    /// Called with h_r (after its interventions) for every residual index r.
    public var residualReader: ((Int, ActivationView) -> Void)?
    /// Called inside block l with the residual after its attention sublayer
    /// (h_l + Attn(RMSNorm(h_l)), before the MLP), keyed by the block index l.
    public var midResidualReader: ((Int, ActivationView) -> Void)?
    /// Called with each linear layer's input before the layer runs.
    public var linearTap: ((LinearID, ActivationView) -> Void)?
    /// Adapters: weight deltas per linear layer, each with its scale, summed.
    public private(set) var weightDeltas: [LinearID: [ScaledWeightDelta]] = [:]

    public init() {}

    /// Adds an intervention at residual index `index`, after those already there.
    public mutating func add(_ intervention: any ResidualIntervention, at index: Int) {
        residualInterventions[index, default: []].append(intervention)
    }

    /// Adds a fixed edit at residual index `index`, after the interventions already there.
    public mutating func add(_ edit: ResidualEdit, at index: Int) {
        add(FixedEdit(edit), at: index)
    }

    /// Adds s · ΔW to linear layer `id`, beside the deltas already there.
    public mutating func add(_ delta: any WeightDelta, to id: LinearID, scale: Float = 1) {
        weightDeltas[id, default: []].append(ScaledWeightDelta(delta: delta, scale: scale))
    }

    /// The weight deltas alone: what recomputing a block must re-apply (taps and readers have
    /// seen it already; residual interventions sit between blocks, outside a recomputation).
    var adaptersOnly: ForwardHooks {
        var h = ForwardHooks()
        h.weightDeltas = weightDeltas
        return h
    }

    public var isEmpty: Bool {
        residualInterventions.isEmpty && residualReader == nil && midResidualReader == nil && linearTap == nil && weightDeltas.isEmpty
    }
}
