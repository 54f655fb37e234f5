import CKernels
import Foundation

/// One trainable tensor: its value, the gradient the backward pass accumulates into it
/// (zeroed by the optimisation loop before each step), and whether AdamW's decoupled
/// weight decay applies to it.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    public let decays: Bool

    public init(name: String, value: Tensor, gradient: Tensor? = nil, decays: Bool) {
        precondition(gradient.map { $0.shape == value.shape } ?? true, "gradient of \(name) is shaped unlike its value")
        self.name = name
        self.value = value
        self.gradient = gradient ?? Tensor(zeros: value.shape)
        self.decays = decays
    }
}

/// Anything the one optimisation loop can train: all weights (`FullFineTune`), steering
/// vectors, adapters, interventions, tuned-lens translators. Each is a value handed to the
/// forward and backward passes through hooks; none forks the model or the loop.
public protocol Trainable: AnyObject {
    /// The parameters, each once (parameters tied between several places are one `Parameter`).
    var parameters: [Parameter] { get }
    /// Adds its residual interventions and weight deltas to a forward pass's hooks; the
    /// backward pass then accumulates their parameters' gradients through the same hooks.
    func attach(to hooks: inout ForwardHooks)
    /// Asks the backward pass for what the hooks do not cover (full fine-tuning: every
    /// weight's gradient).
    func prepare(_ options: inout BackwardOptions)
    /// Called after every optimiser update (a re-projection onto a constraint, such as
    /// orthonormal rows).
    func afterUpdate()
}

extension Trainable {
    public func attach(to hooks: inout ForwardHooks) {}
    public func prepare(_ options: inout BackwardOptions) {}
    public func afterUpdate() {}

    /// Distinct trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Every weight of the model trained in place: the backward pass writes the weight
/// gradients into `gradients`. Matrices decay, norms and biases do not.
public final class FullFineTune: Trainable {
    public let model: TransformerModel
    public let gradients: ModelWeights
    public let parameters: [Parameter]

    public init(model: TransformerModel) {
        self.model = model
        gradients = model.weights.zerosLike()
        parameters = zip(model.weights.named, gradients.named).map { w, g in
            Parameter(name: w.name, value: w.tensor, gradient: g.tensor, decays: w.role.decays)
        }
    }

    public func prepare(_ options: inout BackwardOptions) { options.weightGradients = gradients }
}

extension Array where Element == Parameter {
    public func zeroGradients() {
        for p in self { p.gradient.mutableData.update(repeating: 0, count: p.gradient.count) }
    }

    /// Σ g² over every gradient (for clipping by the global norm). Per-chunk sums are added
    /// in chunk order, so the result does not depend on thread timing.
    public func squaredGradientNorm() -> Double {
        var total = 0.0
        let lock = NSLock()
        for p in self {
            let g = p.gradient
            var partials: [Int: Double] = [:]
            Parallel.forEachChunk(g.count, costPerItem: 1) { range in
                let s = wb_sum_squares(g.data + range.lowerBound, range.count)
                lock.lock(); partials[range.lowerBound] = s; lock.unlock()
            }
            for start in partials.keys.sorted() { total += partials[start]! }
        }
        return total
    }

    public func scaleGradients(by factor: Float) {
        for p in self {
            let g = p.gradient.mutableData
            Parallel.forEachChunk(p.gradient.count, costPerItem: 1) { range in
                for i in range { g[i] *= factor }
            }
        }
    }
}
