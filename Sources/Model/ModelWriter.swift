import Foundation

extension ModelConfig {
    /// config.json as transformers writes it for this architecture.
    public func huggingFaceJSON() -> [String: Any] {
        var c: [String: Any] = [
            "architectures": [architecture == .llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"],
            "model_type": architecture.rawValue,
            "hidden_size": hiddenSize, "intermediate_size": intermediateSize, "num_hidden_layers": layerCount,
            "num_attention_heads": headCount, "num_key_value_heads": kvHeadCount, "head_dim": headDim,
            "vocab_size": vocabSize, "rms_norm_eps": Double(rmsNormEps), "rope_theta": ropeTheta,
            "tie_word_embeddings": tieWordEmbeddings, "max_position_embeddings": maxPositionEmbeddings,
            "hidden_act": "silu", "initializer_range": 0.02, "use_cache": true, "torch_dtype": torchDtype ?? "float32",
        ]
        if architecture == .llama {
            c["attention_bias"] = qkvBias
            c["mlp_bias"] = mlpBias
        }
        if case let .llama3(factor, low, high, orig) = ropeScaling {
            c["rope_scaling"] = ["rope_type": "llama3", "factor": factor, "low_freq_factor": low,
                                 "high_freq_factor": high, "original_max_position_embeddings": orig]
        }
        if let bosTokenId { c["bos_token_id"] = bosTokenId }
        if !eosTokenIds.isEmpty { c["eos_token_id"] = eosTokenIds.count == 1 ? eosTokenIds[0] as Any : eosTokenIds as Any }
        return c
    }
}

extension TransformerModel {
    /// Writes a Hugging Face model directory (config.json, model.safetensors and,
    /// when given, the tokenizer file) that transformers loads.
    public func save(to directory: String, storage: SafeTensorsWriter.StorageType = .f32,
                     tokenizerFile: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var cfg = config
        cfg.torchDtype = storage == .bf16 ? "bfloat16" : "float32"
        let json = try JSONSerialization.data(withJSONObject: cfg.huggingFaceJSON(), options: [.prettyPrinted, .sortedKeys])
        try writeFileAtomically(json, to: (directory as NSString).appendingPathComponent("config.json"))
        try SafeTensorsWriter.write(weights.named.map { ($0.name, $0.tensor) }, to: (directory as NSString).appendingPathComponent("model.safetensors"), as: storage)
        if let tokenizerFile {
            let target = (directory as NSString).appendingPathComponent("tokenizer.json")
            if URL(fileURLWithPath: tokenizerFile).standardizedFileURL != URL(fileURLWithPath: target).standardizedFileURL {
                let data = try readFile(tokenizerFile)
                try writeFileAtomically(data, to: target)
            }
        }
    }
}
