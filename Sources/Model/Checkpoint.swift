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

/// Which files hold a model's weights, and in which dtype they are stored.
public struct CheckpointFiles {
    public let directory: String
    public let files: [SafeTensorsFile]
    /// tensor name → file index
    public let location: [String: Int]

    /// Opens `model.safetensors`, or the shards listed in `model.safetensors.index.json`.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let single = (directory as NSString).appendingPathComponent("model.safetensors")
        let index = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single) {
            let f = try SafeTensorsFile(path: single)
            files = [f]
            location = Dictionary(uniqueKeysWithValues: f.tensors.keys.map { ($0, 0) })
        } else if fm.fileExists(atPath: index) {
            guard let data = fm.contents(atPath: index),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw WorkbenchError("not a valid index: expected a JSON object with a 'weight_map' of tensor → shard file", file: index)
            }
            let shardNames = Array(Set(map.values)).sorted()
            var opened: [SafeTensorsFile] = []
            var shardIndex: [String: Int] = [:]
            for name in shardNames {
                guard !name.contains("/") else { throw WorkbenchError("shard name '\(name)' must be a file in the same directory", file: index) }
                shardIndex[name] = opened.count
                opened.append(try SafeTensorsFile(path: (directory as NSString).appendingPathComponent(name)))
            }
            var loc: [String: Int] = [:]
            for (tensor, shard) in map {
                let i = shardIndex[shard]!
                guard opened[i].tensors[tensor] != nil else {
                    throw WorkbenchError("index says tensor '\(tensor)' is in this shard, but it is not", file: opened[i].path)
                }
                loc[tensor] = i
            }
            files = opened
            location = loc
        } else {
            throw WorkbenchError("no model.safetensors or model.safetensors.index.json in the model directory", file: directory)
        }
    }

    public var tensorNames: [String] { Array(location.keys) }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) -> SafeTensorInfo? {
        location[name].flatMap { files[$0].tensors[name] }
    }

    /// Loads a tensor as f32 and checks its shape against what the config implies.
    public func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        guard let i = location[name] else {
            throw WorkbenchError("missing tensor '\(name)'", file: files.count == 1 ? files[0].path : directory)
        }
        let t = try files[i].floatTensor(name)
        guard t.shape == expected else {
            throw WorkbenchError("tensor '\(name)' has shape \(t.shape) but config.json implies \(expected)", file: files[i].path)
        }
        return t
    }

    /// Storage dtypes present, e.g. ["BF16"].
    public var storedDTypes: [String] {
        Array(Set(location.compactMap { info($0.key)?.dtype.rawValue })).sorted()
    }
}

extension ModelWeights {
    /// Reads every weight named by the config from `files`, checking shapes.
    public init(config c: ModelConfig, files: CheckpointFiles) throws {
        let d = c.hiddenSize
        embedding = try files.tensor("model.embed_tokens.weight", shape: [c.vocabSize, d])
        finalNorm = try files.tensor("model.norm.weight", shape: [d])
        if files.contains("lm_head.weight") {
            unembedding = try files.tensor("lm_head.weight", shape: [c.vocabSize, d])
        } else {
            unembedding = embedding  // tied (tie_word_embeddings, or the head simply absent)
        }
        func linear(_ layer: Int, _ site: LinearSite, out: Int, in inF: Int, bias: Bool) throws -> LinearWeights {
            let p = site.hfPrefix(layer: layer)
            let w = try files.tensor(p + ".weight", shape: [out, inF])
            let b = bias ? try files.tensor(p + ".bias", shape: [out]) : nil
            return LinearWeights(weight: w, bias: b)
        }
        var blocks: [BlockWeights] = []
        for l in 0..<c.layerCount {
            let pre = "model.layers.\(l)."
            blocks.append(BlockWeights(
                inputNorm: try files.tensor(pre + "input_layernorm.weight", shape: [d]),
                postAttentionNorm: try files.tensor(pre + "post_attention_layernorm.weight", shape: [d]),
                q: try linear(l, .q, out: c.queryWidth, in: d, bias: c.qkvBias),
                k: try linear(l, .k, out: c.kvWidth, in: d, bias: c.qkvBias),
                v: try linear(l, .v, out: c.kvWidth, in: d, bias: c.qkvBias),
                o: try linear(l, .o, out: d, in: c.queryWidth, bias: c.outputBias),
                gate: try linear(l, .gate, out: c.intermediateSize, in: d, bias: c.mlpBias),
                up: try linear(l, .up, out: c.intermediateSize, in: d, bias: c.mlpBias),
                down: try linear(l, .down, out: d, in: c.intermediateSize, bias: c.mlpBias)))
        }
        self.blocks = blocks
    }
}
