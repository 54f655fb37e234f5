import CKernels
import Foundation
import Model

/// A llama.cpp model file read as the runtime's model: the architecture's metadata becomes a
/// `ModelConfig`, llama.cpp's tensor names the Hugging Face ones, every tensor is dequantised
/// to float32, and the llama architecture's Q and K rows are put back in Hugging Face's order.
public enum GGUFModel {
    public static let architectures = ["llama", "qwen2"]

    /// The model in `file`; `progress(done, total)` is told after each tensor.
    public static func load(_ file: GGUFFile, progress: ((Int, Int) -> Void)? = nil) throws -> TransformerModel {
        let config = try self.config(file)
        let names = ggufNames(config)
        let tied = file.tensor("output.weight") == nil
        // The weights `build` asks for: embedding, final norm, the unembedding unless tied, and
        // per block two norms, seven linears and their biases.
        let c = config
        let biases = (c.qkvBias ? 3 : 0) + (c.outputBias ? 1 : 0) + (c.mlpBias ? 3 : 0)
        let total = 2 + (tied ? 0 : 1) + c.layerCount * (2 + LinearSite.allCases.count + biases)
        var done = 0
        let weights = try ModelWeights.build(config: config, tied: tied) { spec in
            guard let name = names[spec.name] else { throw WorkbenchError("no GGUF name for '\(spec.name)'", file: file.path) }
            guard let info = file.tensor(name) else { throw WorkbenchError("missing tensor '\(name)'", file: file.path) }
            guard info.shape == spec.shape else {
                throw WorkbenchError("tensor '\(name)' has shape \(info.shape) but the metadata implies \(spec.shape)", file: file.path)
            }
            var tensor = try file.floatTensor(name)
            guard wb_sum_squares(tensor.data, tensor.count).isFinite else {
                throw WorkbenchError("tensor '\(name)' holds NaN or infinite values", file: file.path)
            }
            if config.architecture == .llama, let heads = rotaryHeads(spec.role, config) {
                tensor = unpermuteRotaryRows(tensor, heads: heads)
            }
            done += 1
            progress?(done, total)
            return tensor
        }
        let stored = Array(Set(file.tensors.map(\.type.name))).sorted()
        return TransformerModel(config: config, weights: weights, directory: file.path, storedDTypes: stored)
    }

    /// The architecture settings from `general.architecture` and the `ARCH.*` keys.
    public static func config(_ file: GGUFFile) throws -> ModelConfig {
        func fail(_ m: String) -> WorkbenchError { WorkbenchError(m, file: file.path) }
        guard let arch = try file.string("general.architecture") else { throw fail("no general.architecture in the metadata") }
        guard let architecture = ModelConfig.Architecture(rawValue: arch), architectures.contains(arch) else {
            throw fail("architecture '\(arch)' is not supported; supported: \(architectures.joined(separator: ", "))")
        }
        // A width or count no larger than the values the file can hold (a header that lies is
        // refused here, before any table or product is sized by it).
        let most = file.tensors.reduce(0) { max($0, $1.elementCount) }
        func required(_ key: String) throws -> Int {
            guard let v = try file.int("\(arch).\(key)") else { throw fail("missing metadata '\(arch).\(key)'") }
            guard v > 0 else { throw fail("metadata '\(arch).\(key)' must be positive, got \(v)") }
            guard v <= most else { throw fail("metadata '\(arch).\(key)' is \(v), more than any tensor of the file holds") }
            return v
        }
        let d = try required("embedding_length"), heads = try required("attention.head_count")
        let kvHeads = try file.int("\(arch).attention.head_count_kv") ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw fail("attention.head_count (\(heads)) must be a multiple of attention.head_count_kv (\(kvHeads))")
        }
        let headDim = try file.int("\(arch).attention.key_length") ?? d / heads
        guard headDim > 0, headDim % 2 == 0, try file.int("\(arch).attention.value_length") ?? headDim == headDim else {
            throw fail("attention.key_length must be a positive even number equal to attention.value_length")
        }
        let (queryWidth, overflow) = heads.multipliedReportingOverflow(by: headDim)
        guard !overflow, queryWidth <= most else { throw fail("attention.head_count × key_length (\(heads) × \(headDim)) is more than any tensor holds") }
        let layers = try required("block_count")
        // Every block has at least its two norms and seven linears.
        guard layers <= file.tensors.count / 9 else { throw fail("block_count \(layers) is more than the file's \(file.tensors.count) tensors can hold") }
        if let rotary = try file.int("\(arch).rope.dimension_count"), rotary != headDim {
            throw fail("RoPE over \(rotary) of \(headDim) head dimensions (partial rotary) is not supported")
        }
        if let scaling = try file.string("\(arch).rope.scaling.type"), scaling != "none" {
            throw fail("RoPE scaling '\(scaling)' is not supported (only unscaled RoPE is read from GGUF)")
        }
        guard let embedding = file.tensor("token_embd.weight"), embedding.shape.count == 2 else {
            throw fail("missing tensor 'token_embd.weight' [vocabulary, \(d)]")
        }
        let vocab = try file.int("\(arch).vocab_size") ?? embedding.shape[0]
        let bias = { (name: String) in file.tensor("blk.0.\(name).bias") != nil }
        let eos = try file.int("tokenizer.ggml.eos_token_id")
        let theta = try file.double("\(arch).rope.freq_base") ?? 10000
        guard theta.isFinite, theta > 1 else { throw fail("rope.freq_base must be a finite number above 1, got \(theta)") }
        var config = ModelConfig(architecture: architecture, hiddenSize: d, intermediateSize: try required("feed_forward_length"),
                           layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
                           headDim: headDim, vocabSize: vocab,
                           rmsNormEps: Float(try file.double("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6),
                           ropeTheta: theta,
                           tieWordEmbeddings: file.tensor("output.weight") == nil,
                           qkvBias: architecture == .qwen2 || bias("attn_q"), outputBias: bias("attn_output"),
                           mlpBias: bias("ffn_down"),
                           maxPositionEmbeddings: try file.int("\(arch).context_length") ?? 2048,
                           bosTokenId: try file.int("tokenizer.ggml.bos_token_id"), eosTokenIds: eos.map { [$0] } ?? [],
                           torchDtype: nil)
        if file.tensor("rope_freqs.weight") != nil {
            config.ropeScaling = try llama3Scaling(file, config: config,
                                                   originalContext: try file.int("\(arch).rope.scaling.original_context_length"))
        }
        return config
    }

    /// Llama 3.1's RoPE scaling, which llama.cpp's converter stores as one divisor per frequency
    /// (`rope_freqs.weight`, r_i) rather than as parameters: the low frequencies divided by
    /// `factor`, the high ones kept, the band between interpolated, 1/r = (1 − s)/factor + s with
    /// s = (orig/λ − low)/(high − low) for wavelength λ. With Meta's low = 1 and high = 4, each
    /// frequency inside the band gives orig; the parameters found must reproduce every stored
    /// divisor (1e-4), else the file is refused.
    static func llama3Scaling(_ file: GGUFFile, config: ModelConfig, originalContext: Int?) throws -> ModelConfig.RopeScaling {
        let stored = try file.floatTensor("rope_freqs.weight").values.map(Double.init)
        let half = config.headDim / 2
        guard stored.count == half, stored.allSatisfy({ $0.isFinite && $0 >= 1 - 1e-4 }) else {
            throw WorkbenchError("rope_freqs.weight should hold \(half) divisors of at least 1", file: file.path)
        }
        let factor = stored.max()!
        if factor <= 1 + 1e-6 { return .none }
        let (low, high) = (1.0, 4.0)
        let wavelengths = (0..<half).map { 2 * Double.pi * pow(config.ropeTheta, Double(2 * $0) / Double(config.headDim)) }
        let inBand = zip(wavelengths, stored).filter { $0.1 > 1 + 1e-4 && $0.1 < factor * (1 - 1e-4) }
        let orig: Double
        if let originalContext {
            orig = Double(originalContext)
        } else if !inBand.isEmpty {
            orig = inBand.map { w, r in w * (((1 / r - 1 / factor) / (1 - 1 / factor)) * (high - low) + low) }.reduce(0, +) / Double(inBand.count)
        } else {
            // No frequency inside the band: any orig that keeps the unscaled ones above orig/high
            // and the scaled ones below orig/low gives the same frequencies.
            let unscaled = zip(wavelengths, stored).filter { $0.1 <= 1 + 1e-4 }.map(\.0).max() ?? 0
            let scaled = zip(wavelengths, stored).filter { $0.1 >= factor * (1 - 1e-4) }.map(\.0).min() ?? 4 * unscaled * 4
            orig = (high * unscaled * scaled / low).squareRoot()
        }
        guard orig.isFinite, orig >= 1, orig <= 1e12, factor.isFinite else {
            throw WorkbenchError("rope_freqs.weight does not follow Llama 3's RoPE scaling (no original context length fits)", file: file.path)
        }
        let scaling = ModelConfig.RopeScaling.llama3(factor: factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: Int(orig.rounded()))
        var scaled = config
        scaled.ropeScaling = scaling
        let unscaledFrequencies = config.ropeInverseFrequencies(), frequencies = scaled.ropeInverseFrequencies()
        for i in 0..<half where abs(unscaledFrequencies[i] / frequencies[i] - stored[i]) > 1e-4 * stored[i] {
            throw WorkbenchError("rope_freqs.weight does not follow Llama 3's RoPE scaling (frequency \(i): divisor \(stored[i]), the best llama3 parameters give \(unscaledFrequencies[i] / frequencies[i]))", file: file.path)
        }
        return scaling
    }

    /// Hugging Face name → llama.cpp name for every weight of `config`.
    static func ggufNames(_ config: ModelConfig) -> [String: String] {
        var names = [WeightName.embedding: "token_embd.weight", WeightName.finalNorm: "output_norm.weight",
                     WeightName.unembedding: "output.weight"]
        let sites: [(LinearSite, String)] = [(.q, "attn_q"), (.k, "attn_k"), (.v, "attn_v"), (.o, "attn_output"),
                                             (.gate, "ffn_gate"), (.up, "ffn_up"), (.down, "ffn_down")]
        for l in 0..<config.layerCount {
            names[WeightName.inputNorm(l)] = "blk.\(l).attn_norm.weight"
            names[WeightName.postAttentionNorm(l)] = "blk.\(l).ffn_norm.weight"
            for (site, short) in sites {
                names[WeightName.linear(l, site)] = "blk.\(l).\(short).weight"
                names[WeightName.bias(l, site)] = "blk.\(l).\(short).bias"
            }
        }
        return names
    }

    /// The heads whose rows llama.cpp permuted in this weight: W_q and W_k and their biases.
    static func rotaryHeads(_ role: WeightRole, _ c: ModelConfig) -> Int? {
        switch role {
        case .linear(.q), .bias(.q): return c.headCount
        case .linear(.k), .bias(.k): return c.kvHeadCount
        default: return nil
        }
    }

    /// llama.cpp's converter stores each head's rows of W_q and W_k (and their biases) with
    /// the two rotary halves interleaved: Hugging Face row h·hd + half·hd/2 + j is GGUF row
    /// h·hd + 2j + half. This puts them back.
    static func unpermuteRotaryRows(_ t: Tensor, heads: Int) -> Tensor {
        let rows = t.shape[0], width = t.count / rows
        let headDim = rows / heads, halfDim = headDim / 2
        let out = Tensor(uninitialized: t.shape)
        for h in 0..<heads {
            for half in 0..<2 {
                for j in 0..<halfDim {
                    let target = h * headDim + half * halfDim + j, source = h * headDim + 2 * j + half
                    (out.mutableData + target * width).update(from: t.data + source * width, count: width)
                }
            }
        }
        return out
    }
}
