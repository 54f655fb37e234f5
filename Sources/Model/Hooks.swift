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
    public var rows: Int { batchSize * length }
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

/// How a hook changes the residual stream h_r (r = 0: embedding output,
/// r = l + 1: output of block l; methods.md notation).
public enum ResidualEdit {
    /// h_r ← h_r + v at every row (v has d values: a steering vector).
    case addVector([Float])
    /// h_r ← h_r + V with V of shape [batchSize, length, d].
    case add(Tensor)
    /// h_r ← V with V of shape [batchSize, length, d].
    case replace(Tensor)
    /// Arbitrary in-place edit of the [rows, d] matrix.
    case custom((UnsafeMutablePointer<Float>, RowLayout) -> Void)
}

/// A weight change ΔW for one linear layer supplied from outside (an adapter):
/// the layer computes y = x (W + ΔW)ᵀ + b without W ever being modified.
public protocol WeightDelta {
    /// Adds x ΔWᵀ to `output` ([rows, out]) for `input` ([rows, in]).
    func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                         output: UnsafeMutablePointer<Float>, outFeatures: Int)
    /// Backward: adds g ΔW to `inputGradient` ([rows, in]) for the layer's output
    /// gradient g ([rows, out]).
    func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                          inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int)
}

/// An adapter with parameters of its own, which the backward pass feeds.
public protocol TrainableWeightDelta: WeightDelta {
    /// Accumulates the gradient of its parameters given the layer's input x and output gradient g.
    func accumulateGradients(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                             inFeatures: Int, outFeatures: Int)
}

/// ΔW given as a dense [out, in] matrix.
public struct DenseWeightDelta: WeightDelta {
    public let delta: Tensor
    public init(_ delta: Tensor) { self.delta = delta }
    public func addContribution(input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                output: UnsafeMutablePointer<Float>, outFeatures: Int) {
        precondition(delta.shape == [outFeatures, inFeatures], "ΔW shape \(delta.shape) ≠ [\(outFeatures), \(inFeatures)]")
        sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: input, lda: inFeatures,
              b: delta.data, ldb: inFeatures, beta: 1, c: output, ldc: outFeatures)
    }
    public func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                                 inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int) {
        sgemm(m: rows, n: inFeatures, k: outFeatures, a: outputGradient, lda: outFeatures,
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
                                output: UnsafeMutablePointer<Float>, outFeatures: Int) {
        let r = a.shape[0]
        precondition(a.shape[1] == inFeatures && b.shape[0] == outFeatures, "low-rank ΔW does not fit [\(outFeatures), \(inFeatures)]")
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: rows * r)
        defer { tmp.deallocate() }
        sgemm(transB: true, m: rows, n: r, k: inFeatures, a: input, lda: inFeatures, b: a.data, ldb: inFeatures, c: tmp, ldc: r)
        sgemm(transB: true, m: rows, n: outFeatures, k: r, a: tmp, lda: r, b: b.data, ldb: r, beta: 1, c: output, ldc: outFeatures)
    }
    public func addInputGradient(outputGradient: UnsafePointer<Float>, rows: Int, outFeatures: Int,
                                 inputGradient: UnsafeMutablePointer<Float>, inFeatures: Int) {
        let r = a.shape[0]
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: rows * r)
        defer { tmp.deallocate() }
        // (g B) A
        sgemm(m: rows, n: r, k: outFeatures, a: outputGradient, lda: outFeatures, b: b.data, ldb: r, c: tmp, ldc: r)
        sgemm(m: rows, n: inFeatures, k: r, a: tmp, lda: r, b: a.data, ldb: inFeatures, beta: 1, c: inputGradient, ldc: inFeatures)
    }
}

/// Everything a caller can attach to one forward pass. A hook is a value: the
/// model code is the same with or without it.
public struct ForwardHooks {
    /// Edits of the residual stream, keyed by residual index r in 0...L.
    public var residualEdits: [Int: ResidualEdit] = [:]
    /// Called with h_r (after any edit) for every residual index r.
    public var residualReader: ((Int, ActivationView) -> Void)?
    /// Called inside block l with the residual after its attention sublayer
    /// (h_l + Attn(RMSNorm(h_l)), before the MLP), keyed by the block index l.
    public var midResidualReader: ((Int, ActivationView) -> Void)?
    /// Called with each linear layer's input before the layer runs.
    public var linearTap: ((LinearID, ActivationView) -> Void)?
    /// Adapters: ΔW per linear layer.
    public var weightDeltas: [LinearID: any WeightDelta] = [:]

    public init() {}

    public var isEmpty: Bool {
        residualEdits.isEmpty && residualReader == nil && midResidualReader == nil && linearTap == nil && weightDeltas.isEmpty
    }
}
