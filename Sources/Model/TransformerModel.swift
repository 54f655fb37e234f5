import Foundation

/// A Llama/Qwen2 causal language model held in float32.
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    /// The Hugging Face directory it was loaded from, if any.
    public let directory: String?
    /// dtypes of the tensors on disk, e.g. ["BF16"].
    public let storedDTypes: [String]
    /// RoPE inverse frequencies (float32, as transformers computes them).
    let inverseFrequencies: [Float]

    public init(config: ModelConfig, weights: ModelWeights, directory: String? = nil, storedDTypes: [String] = ["F32"]) {
        self.config = config
        self.weights = weights
        self.directory = directory
        self.storedDTypes = storedDTypes
        inverseFrequencies = config.ropeInverseFrequencies().map { Float($0) }
    }

    /// Loads a Hugging Face checkpoint directory (config.json + safetensors).
    public static func load(directory: String) throws -> TransformerModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw WorkbenchError("model directory does not exist", file: directory)
        }
        guard isDir.boolValue else { throw WorkbenchError("not a directory (expected a Hugging Face model directory)", file: directory) }
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw WorkbenchError("missing config.json", file: configPath)
        }
        let data = try readFile(configPath)
        let config = try ModelConfig(json: data, path: configPath)
        let files = try CheckpointFiles(directory: directory)
        let weights = try ModelWeights(config: config, files: files)
        return TransformerModel(config: config, weights: weights, directory: directory, storedDTypes: files.storedDTypes)
    }

    /// Distinct trainable parameters (a tied unembedding counts once).
    public var parameterCount: Int { weights.named.reduce(0) { $0 + $1.tensor.count } }

    public var isTied: Bool { weights.isTied }
}
