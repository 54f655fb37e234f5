import Foundation

/// The weights of one decoder block, named after the Hugging Face tensors.
public struct BlockWeights: @unchecked Sendable {
    public var inputNorm: Tensor          // input_layernorm.weight [d]
    public var postAttentionNorm: Tensor  // post_attention_layernorm.weight [d]
    public var q: LinearWeights
    public var k: LinearWeights
    public var v: LinearWeights
    public var o: LinearWeights
    public var gate: LinearWeights
    public var up: LinearWeights
    public var down: LinearWeights

    public func linear(_ site: LinearSite) -> LinearWeights {
        switch site {
        case .q: return q
        case .k: return k
        case .v: return v
        case .o: return o
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }
}

/// W [out, in] and optional bias [out].
public struct LinearWeights: @unchecked Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
}

/// The linear layers inside a block; with the block index they name a hook site.
public enum LinearSite: String, CaseIterable, Sendable, Hashable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// Hugging Face tensor-name prefix of this linear inside block `layer`.
    public func hfPrefix(layer: Int) -> String {
        switch self {
        case .q, .k, .v, .o: return "model.layers.\(layer).self_attn.\(rawValue)"
        case .gate, .up, .down: return "model.layers.\(layer).mlp.\(rawValue)"
        }
    }
}

/// All weights of a Llama/Qwen2 causal language model.
public struct ModelWeights: @unchecked Sendable {
    public var embedding: Tensor   // [V, d]
    public var blocks: [BlockWeights]
    public var finalNorm: Tensor   // [d]
    /// The unembedding W_U [V, d]; the same storage as `embedding` when tied.
    public var unembedding: Tensor
}

/// The Hugging Face name of every weight, spelled here only: the loader, the random
/// initialisation, the HF writer, the gradients, checkpoints and the optimiser all go
/// through `ModelWeights.build` and `ModelWeights.named`, which use these.
public enum WeightName {
    public static let embedding = "model.embed_tokens.weight"
    public static let finalNorm = "model.norm.weight"
    public static let unembedding = "lm_head.weight"
    public static func inputNorm(_ layer: Int) -> String { "model.layers.\(layer).input_layernorm.weight" }
    public static func postAttentionNorm(_ layer: Int) -> String { "model.layers.\(layer).post_attention_layernorm.weight" }
    public static func linear(_ layer: Int, _ site: LinearSite) -> String { site.hfPrefix(layer: layer) + ".weight" }
    public static func bias(_ layer: Int, _ site: LinearSite) -> String { site.hfPrefix(layer: layer) + ".bias" }
}

/// What a weight is, which decides how it is initialised and whether weight decay applies.
public enum WeightRole: Sendable, Equatable {
    case embedding, unembedding, norm
    case linear(LinearSite)
    case bias(LinearSite)

    /// AdamW's decoupled weight decay applies to the matrices (embedding, unembedding,
    /// linear weights), not to norms or biases.
    public var decays: Bool {
        switch self {
        case .embedding, .unembedding, .linear: return true
        case .norm, .bias: return false
        }
    }
}

/// One weight as the builder asks for it.
public struct WeightSpec: Sendable {
    public let name: String
    public let shape: [Int]
    public let role: WeightRole
}

/// A weight with its name and role, in checkpoint order.
public struct NamedWeight {
    public let name: String
    public let tensor: Tensor
    public let role: WeightRole
}

extension ModelWeights {
    /// Builds a model's weights tensor by tensor, in checkpoint order (embedding; per block
    /// the two norms, then q, k, v, o, gate, up, down each with its bias; final norm;
    /// unembedding unless `tied`, when it shares the embedding's storage).
    public static func build(config c: ModelConfig, tied: Bool,
                             _ make: (WeightSpec) throws -> Tensor) rethrows -> ModelWeights {
        let d = c.hiddenSize
        let embedding = try make(WeightSpec(name: WeightName.embedding, shape: [c.vocabSize, d], role: .embedding))
        func linear(_ l: Int, _ site: LinearSite) throws -> LinearWeights {
            let (out, inF, hasBias): (Int, Int, Bool)
            switch site {
            case .q: (out, inF, hasBias) = (c.queryWidth, d, c.qkvBias)
            case .k, .v: (out, inF, hasBias) = (c.kvWidth, d, c.qkvBias)
            case .o: (out, inF, hasBias) = (d, c.queryWidth, c.outputBias)
            case .gate, .up: (out, inF, hasBias) = (c.intermediateSize, d, c.mlpBias)
            case .down: (out, inF, hasBias) = (d, c.intermediateSize, c.mlpBias)
            }
            let w = try make(WeightSpec(name: WeightName.linear(l, site), shape: [out, inF], role: .linear(site)))
            let b = hasBias ? try make(WeightSpec(name: WeightName.bias(l, site), shape: [out], role: .bias(site))) : nil
            return LinearWeights(weight: w, bias: b)
        }
        var blocks: [BlockWeights] = []
        for l in 0..<c.layerCount {
            let inputNorm = try make(WeightSpec(name: WeightName.inputNorm(l), shape: [d], role: .norm))
            let postNorm = try make(WeightSpec(name: WeightName.postAttentionNorm(l), shape: [d], role: .norm))
            blocks.append(BlockWeights(inputNorm: inputNorm, postAttentionNorm: postNorm,
                                       q: try linear(l, .q), k: try linear(l, .k), v: try linear(l, .v), o: try linear(l, .o),
                                       gate: try linear(l, .gate), up: try linear(l, .up), down: try linear(l, .down)))
        }
        let finalNorm = try make(WeightSpec(name: WeightName.finalNorm, shape: [d], role: .norm))
        let unembedding = tied ? embedding
            : try make(WeightSpec(name: WeightName.unembedding, shape: [c.vocabSize, d], role: .unembedding))
        return ModelWeights(embedding: embedding, blocks: blocks, finalNorm: finalNorm, unembedding: unembedding)
    }

    /// Whether the unembedding shares the embedding's storage.
    public var isTied: Bool { unembedding.storage === embedding.storage }

    /// Every distinct weight with its name, in `build`'s order (a tied unembedding is left out).
    public var named: [NamedWeight] {
        var out = [NamedWeight(name: WeightName.embedding, tensor: embedding, role: .embedding)]
        for (l, b) in blocks.enumerated() {
            out.append(NamedWeight(name: WeightName.inputNorm(l), tensor: b.inputNorm, role: .norm))
            out.append(NamedWeight(name: WeightName.postAttentionNorm(l), tensor: b.postAttentionNorm, role: .norm))
            for site in LinearSite.allCases {
                let lw = b.linear(site)
                out.append(NamedWeight(name: WeightName.linear(l, site), tensor: lw.weight, role: .linear(site)))
                if let bias = lw.bias { out.append(NamedWeight(name: WeightName.bias(l, site), tensor: bias, role: .bias(site))) }
            }
        }
        out.append(NamedWeight(name: WeightName.finalNorm, tensor: finalNorm, role: .norm))
        if !isTied { out.append(NamedWeight(name: WeightName.unembedding, tensor: unembedding, role: .unembedding)) }
        return out
    }

    /// The same structure with every tensor replaced by `transform(tensor)`; a tied
    /// unembedding stays tied.
    public func mapped(_ transform: (Tensor) -> Tensor) -> ModelWeights {
        func linear(_ l: LinearWeights) -> LinearWeights { LinearWeights(weight: transform(l.weight), bias: l.bias.map(transform)) }
        let e = transform(embedding)
        return ModelWeights(embedding: e, blocks: blocks.map { b in
            BlockWeights(inputNorm: transform(b.inputNorm), postAttentionNorm: transform(b.postAttentionNorm),
                         q: linear(b.q), k: linear(b.k), v: linear(b.v), o: linear(b.o),
                         gate: linear(b.gate), up: linear(b.up), down: linear(b.down))
        }, finalNorm: transform(finalNorm), unembedding: isTied ? e : transform(unembedding))
    }

    /// Copies every tensor into memory the workbench owns (weights loaded from an f32
    /// file point into its read-only mapping), keeping a tied unembedding tied.
    public func ownedCopy() -> ModelWeights { mapped { $0.copy() } }

    /// Zeros shaped like these weights (gradient buffers): with a tied unembedding, its
    /// gradient and the embedding's are the same buffer, so both contributions add up there.
    public func zerosLike() -> ModelWeights { mapped { Tensor(zeros: $0.shape) } }
}
