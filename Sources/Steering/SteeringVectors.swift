import Model

/// One vector per block added to the residual stream (methods.md §1): block l's
/// output h_{l+1} becomes h_{l+1} + s_l at every position. Passed to the model as
/// hook values; the weights are untouched.
public struct SteeringVectors: Sendable {
    /// [L][d]
    public var vectors: [[Float]]

    public init(vectors: [[Float]]) { self.vectors = vectors }

    /// Zero vectors for every block (the initialisation of RL training).
    public init(zerosFor config: ModelConfig) {
        vectors = [[Float]](repeating: [Float](repeating: 0, count: config.hiddenSize), count: config.layerCount)
    }

    /// Hooks adding s_l after block l (residual index l + 1).
    public func hooks(for config: ModelConfig) throws -> ForwardHooks {
        guard vectors.count == config.layerCount else {
            throw WorkbenchError("steering vectors cover \(vectors.count) blocks, the model has \(config.layerCount)")
        }
        var hooks = ForwardHooks()
        for (l, v) in vectors.enumerated() {
            guard v.count == config.hiddenSize else {
                throw WorkbenchError("steering vector \(l) has \(v.count) values, the model's width is \(config.hiddenSize)")
            }
            if v.contains(where: { $0 != 0 }) { hooks.residualEdits[l + 1] = .addVector(v) }
        }
        return hooks
    }
}
