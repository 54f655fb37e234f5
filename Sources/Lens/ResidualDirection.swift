import Foundation
import Model

/// Directions in the residual stream read off the model's own activations.
public enum ResidualDirection {
    /// v_l = mean over set A of h_{l+1} at each prompt's last token − the same mean over set
    /// B, one vector per block ([L][d]): the difference-of-means direction that
    /// `lens inspect` reads like a steering vector.
    public static func meanLastTokenDifference(model: TransformerModel, _ setA: [[Int]], _ setB: [[Int]]) throws -> [[Float]] {
        let a = try meanLastResidual(model: model, setA), b = try meanLastResidual(model: model, setB)
        return zip(a, b).map { zip($0, $1).map { $0 - $1 } }
    }

    /// Mean over prompts of the residual after each block at each prompt's last token: [L][d].
    public static func meanLastResidual(model: TransformerModel, _ prompts: [[Int]]) throws -> [[Float]] {
        guard !prompts.isEmpty else { throw WorkbenchError("a mean residual needs at least one prompt") }
        let c = model.config, d = c.hiddenSize
        var sums = [[Float]](repeating: [Float](repeating: 0, count: d), count: c.layerCount)
        let batch = TokenBatch.leftPadded(prompts)
        var hooks = ForwardHooks()
        hooks.residualReader = { r, view in
            guard r > 0 else { return }
            for b in 0..<batch.batchSize {
                let row = view.row(b * batch.length + batch.length - 1)   // last column: the last real token
                for i in 0..<d { sums[r - 1][i] += row[i] }
            }
        }
        _ = try model.forward(batch, hooks: hooks, logits: .none)
        return sums.map { $0.map { $0 / Float(prompts.count) } }
    }
}
