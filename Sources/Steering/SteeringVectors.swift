import Model

/// One vector per block added to the residual stream (methods.md §1): block l's output
/// h_{l+1} becomes h_{l+1} + s_l at the selected rows (every position by default). A
/// `Trainable`: its vectors are parameters that the backward pass feeds through
/// `VectorAddition` interventions; the weights are untouched. Zero vectors are attached
/// like any other, so a zero-initialised vector receives its gradient.
public final class SteeringVectors: Trainable {
    /// s_l for each block in `layers`, [d] each, named "steering.l".
    public private(set) var parameters: [Parameter]
    /// The blocks that carry a vector, ascending.
    public let layers: [Int]
    /// Which rows each vector is added to.
    public var selection: RowSelection
    /// Per-block exceptions to `selection` (an analysis: the last block's vector at the first
    /// generated token only).
    public var selectionByLayer: [Int: RowSelection] = [:]

    /// Vectors for blocks 0..<vectors.count, or for `layers` when given (one vector each).
    public init(vectors: [[Float]], layers: [Int]? = nil, selection: RowSelection = .all) {
        self.layers = layers ?? Array(vectors.indices)
        precondition(self.layers.count == vectors.count, "one vector per layer")
        parameters = zip(self.layers, vectors).map { l, v in
            Parameter(name: "steering.\(l)", value: Tensor(shape: [v.count], values: v), decays: false)
        }
        self.selection = selection
    }

    /// Zero vectors for every block, or for `layers` (the initialisation of RL training).
    public convenience init(zerosFor config: ModelConfig, layers: [Int]? = nil, selection: RowSelection = .all) {
        let chosen = layers ?? Array(0..<config.layerCount)
        self.init(vectors: chosen.map { _ in [Float](repeating: 0, count: config.hiddenSize) }, layers: chosen,
                  selection: selection)
    }

    /// The vectors' current values, one per entry of `layers`.
    public var vectors: [[Float]] {
        get { parameters.map(\.value.values) }
        set {
            precondition(newValue.count == parameters.count, "one vector per layer")
            for (i, v) in newValue.enumerated() {
                let p = parameters[i]
                if v.count == p.value.count {
                    p.value.mutableData.update(from: v, count: v.count)
                } else {   // a vector of another size: `hooks(for:)` says whether it fits
                    parameters[i] = Parameter(name: p.name, value: Tensor(shape: [v.count], values: v), decays: false)
                }
            }
        }
    }

    public func attach(to hooks: inout ForwardHooks) {
        for (l, p) in zip(layers, parameters) {
            hooks.add(VectorAddition(p, selection: selectionByLayer[l] ?? selection), at: l + 1)
        }
    }

    /// Hooks adding s_l after block l, after checking that the vectors fit the model.
    public func hooks(for config: ModelConfig) throws -> ForwardHooks {
        if layers == Array(0..<layers.count), layers.count != config.layerCount {
            throw WorkbenchError("steering vectors cover \(layers.count) blocks, the model has \(config.layerCount)")
        }
        for (l, p) in zip(layers, parameters) {
            guard l >= 0 && l < config.layerCount else {
                throw WorkbenchError("steering vector for block \(l), but the model has blocks 0..<\(config.layerCount)")
            }
            guard p.value.count == config.hiddenSize else {
                throw WorkbenchError("steering vector \(l) has \(p.value.count) values, the model's width is \(config.hiddenSize)")
            }
        }
        var hooks = ForwardHooks()
        attach(to: &hooks)
        return hooks
    }
}
