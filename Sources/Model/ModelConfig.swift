import Foundation

/// The architecture settings the runtime needs, read from a Hugging Face
/// `config.json` of model_type `llama` or `qwen2`. Both the older key layout
/// (top-level `rope_theta`, `rope_scaling`) and the newer one (`rope_parameters`)
/// are accepted.
public struct ModelConfig: Equatable, Sendable {
    public enum Architecture: String, Sendable { case llama, qwen2 }

    /// RoPE frequency scaling. `llama3` rescales low frequencies as Llama 3.1 does.
    public enum RopeScaling: Equatable, Sendable {
        case none
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    }

    public var architecture: Architecture
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var tieWordEmbeddings: Bool
    /// Biases on q, k, v projections (always for qwen2; `attention_bias` for llama, which also biases o).
    public var qkvBias: Bool
    public var outputBias: Bool
    public var mlpBias: Bool
    public var maxPositionEmbeddings: Int
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var torchDtype: String?

    public var queryWidth: Int { headCount * headDim }
    public var kvWidth: Int { kvHeadCount * headDim }

    public init(architecture: Architecture, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int, headDim: Int? = nil, vocabSize: Int,
                rmsNormEps: Float = 1e-6, ropeTheta: Double = 10000, ropeScaling: RopeScaling = .none,
                tieWordEmbeddings: Bool = false, qkvBias: Bool? = nil, outputBias: Bool = false,
                mlpBias: Bool = false, maxPositionEmbeddings: Int = 2048, bosTokenId: Int? = nil,
                eosTokenIds: [Int] = [], torchDtype: String? = nil) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim ?? hiddenSize / headCount
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings
        self.qkvBias = qkvBias ?? (architecture == .qwen2)
        self.outputBias = outputBias
        self.mlpBias = mlpBias
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.torchDtype = torchDtype
    }

    /// Parses config.json; `path` names the file in errors.
    public init(json data: Data, path: String) throws {
        func fail(_ m: String) -> WorkbenchError { WorkbenchError(m, file: path) }
        guard let any = try? JSONSerialization.jsonObject(with: data), let c = any as? [String: Any] else {
            throw fail("not a JSON object")
        }
        func int(_ key: String) -> Int? { (c[key] as? NSNumber).map { $0.intValue } }
        func double(_ key: String, in d: [String: Any]) -> Double? { (d[key] as? NSNumber).map { $0.doubleValue } }
        func required(_ key: String) throws -> Int {
            guard let v = int(key) else { throw fail("missing or non-integer '\(key)'") }
            guard v > 0 else { throw fail("'\(key)' must be positive, got \(v)") }
            return v
        }
        let modelType = (c["model_type"] as? String) ?? ""
        guard let arch = Architecture(rawValue: modelType) else {
            let archs = (c["architectures"] as? [String])?.joined(separator: ", ") ?? "?"
            throw fail("unsupported architecture: model_type '\(modelType)' (\(archs)); supported: llama, qwen2")
        }
        let hidden = try required("hidden_size")
        let heads = try required("num_attention_heads")
        let kvHeads = int("num_key_value_heads") ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw fail("num_attention_heads (\(heads)) must be a multiple of num_key_value_heads (\(kvHeads))")
        }
        let headDim = int("head_dim") ?? (hidden / heads)
        guard headDim > 0, headDim % 2 == 0 else { throw fail("head_dim must be a positive even number, got \(headDim)") }
        if c["head_dim"] == nil, hidden % heads != 0 {
            throw fail("hidden_size (\(hidden)) is not divisible by num_attention_heads (\(heads)) and no head_dim is given")
        }

        // RoPE: newer configs nest theta and the scaling inside rope_parameters.
        let ropeParams = c["rope_parameters"] as? [String: Any]
        let scalingDict = ropeParams ?? (c["rope_scaling"] as? [String: Any])
        let theta = double("rope_theta", in: c) ?? ropeParams.flatMap { double("rope_theta", in: $0) } ?? 10000
        var scaling = RopeScaling.none
        if let s = scalingDict {
            let type = (s["rope_type"] as? String) ?? (s["type"] as? String) ?? "default"
            switch type {
            case "default": scaling = .none
            case "llama3":
                guard let factor = double("factor", in: s),
                      let orig = (s["original_max_position_embeddings"] as? NSNumber)?.intValue else {
                    throw fail("llama3 rope scaling needs 'factor' and 'original_max_position_embeddings'")
                }
                scaling = .llama3(factor: factor, lowFreqFactor: double("low_freq_factor", in: s) ?? 1,
                                  highFreqFactor: double("high_freq_factor", in: s) ?? 4,
                                  originalMaxPositions: orig)
            default:
                throw fail("unsupported rope scaling type '\(type)'; supported: default, llama3")
            }
        }
        let eos: [Int]
        if let e = c["eos_token_id"] as? NSNumber { eos = [e.intValue] }
        else if let e = c["eos_token_id"] as? [NSNumber] { eos = e.map { $0.intValue } }
        else { eos = [] }
        let attentionBias = (c["attention_bias"] as? Bool) ?? false
        self.init(architecture: arch, hiddenSize: hidden, intermediateSize: try required("intermediate_size"),
                  layerCount: try required("num_hidden_layers"), headCount: heads, kvHeadCount: kvHeads,
                  headDim: headDim, vocabSize: try required("vocab_size"),
                  rmsNormEps: Float(double("rms_norm_eps", in: c) ?? 1e-6), ropeTheta: theta, ropeScaling: scaling,
                  tieWordEmbeddings: (c["tie_word_embeddings"] as? Bool) ?? false,
                  qkvBias: arch == .qwen2 ? true : attentionBias,
                  outputBias: arch == .llama ? attentionBias : false,
                  mlpBias: (c["mlp_bias"] as? Bool) ?? false,
                  maxPositionEmbeddings: int("max_position_embeddings") ?? 2048,
                  bosTokenId: int("bos_token_id"), eosTokenIds: eos,
                  torchDtype: (c["torch_dtype"] as? String) ?? (c["dtype"] as? String))
    }

    /// Inverse frequencies of rotate-half RoPE, one per pair of dimensions,
    /// with llama3 scaling applied when configured (methods as in transformers'
    /// `_compute_llama3_parameters`: wavelengths longer than original/low_freq_factor
    /// are divided by `factor`, shorter than original/high_freq_factor kept, and
    /// the band between interpolated smoothly).
    public func ropeInverseFrequencies() -> [Double] {
        let half = headDim / 2
        var inv = (0..<half).map { 1.0 / pow(ropeTheta, Double(2 * $0) / Double(headDim)) }
        if case let .llama3(factor, low, high, orig) = ropeScaling {
            let lowWavelen = Double(orig) / low
            let highWavelen = Double(orig) / high
            inv = inv.map { f in
                let wavelen = 2 * Double.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (Double(orig) / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
        return inv
    }
}
