import CKernels
import Foundation

/// Gradients shaped like `ModelWeights` (summed into; zero them between steps).
/// With tied embeddings the unembedding's gradient is added to `embedding`.
public final class ModelGradients: @unchecked Sendable {
    public let embedding: Tensor
    public let finalNorm: Tensor
    /// nil when the model is tied.
    public let unembedding: Tensor?
    public let blocks: [BlockGradients]

    public init(model: TransformerModel) {
        let w = model.weights
        embedding = Tensor(zeros: w.embedding.shape)
        finalNorm = Tensor(zeros: w.finalNorm.shape)
        unembedding = model.isTied ? nil : Tensor(zeros: w.unembedding.shape)
        blocks = w.blocks.map { BlockGradients(like: $0) }
    }

    /// Every gradient tensor with its Hugging Face parameter name.
    public var named: [(String, Tensor)] {
        var out: [(String, Tensor)] = [("model.embed_tokens.weight", embedding), ("model.norm.weight", finalNorm)]
        if let unembedding { out.append(("lm_head.weight", unembedding)) }
        for (l, b) in blocks.enumerated() {
            out.append(("model.layers.\(l).input_layernorm.weight", b.inputNorm))
            out.append(("model.layers.\(l).post_attention_layernorm.weight", b.postAttentionNorm))
            for site in LinearSite.allCases {
                let g = b.linear(site)
                out.append((site.hfPrefix(layer: l) + ".weight", g.weight))
                if let bias = g.bias { out.append((site.hfPrefix(layer: l) + ".bias", bias)) }
            }
        }
        return out
    }

    public func zero() {
        for (_, t) in named { t.mutableData.update(repeating: 0, count: t.count) }
    }

    /// Sum of squares of every gradient (for clipping by global norm).
    public func squaredNorm() -> Double {
        // Per-chunk sums added in chunk order, so the result does not depend on thread timing.
        var total = 0.0
        let lock = NSLock()
        for (_, t) in named {
            var partials: [Int: Double] = [:]
            Parallel.forEachChunk(t.count, costPerItem: 1) { range in
                let s = wb_sum_squares(t.data + range.lowerBound, range.count)
                lock.lock(); partials[range.lowerBound] = s; lock.unlock()
            }
            for start in partials.keys.sorted() { total += partials[start]! }
        }
        return total
    }

    public func scale(by factor: Float) {
        for (_, t) in named {
            let p = t.mutableData
            Parallel.forEachChunk(t.count, costPerItem: 1) { range in
                for i in range { p[i] *= factor }
            }
        }
    }
}

public final class BlockGradients: @unchecked Sendable {
    public let inputNorm: Tensor
    public let postAttentionNorm: Tensor
    let linears: [LinearSite: LinearWeights]

    init(like w: BlockWeights) {
        inputNorm = Tensor(zeros: w.inputNorm.shape)
        postAttentionNorm = Tensor(zeros: w.postAttentionNorm.shape)
        var l: [LinearSite: LinearWeights] = [:]
        for site in LinearSite.allCases {
            let lw = w.linear(site)
            l[site] = LinearWeights(weight: Tensor(zeros: lw.weight.shape), bias: lw.bias.map { Tensor(zeros: $0.shape) })
        }
        linears = l
    }

    public func linear(_ site: LinearSite) -> LinearWeights { linears[site]! }
}
