import Foundation
import Model

/// The tokenizer layouts the trainer writes, after the model families they imitate.
/// Each is given as tokenizer.json fragments, which are parsed by the same code that
/// loads any tokenizer.json, so training pre-tokenizes exactly as encoding will.
public enum TokenizerStyle: String, CaseIterable, Sendable {
    /// Split with the Llama 3 pattern (digits in runs of up to 3), byte-level, BOS added, ignore_merges.
    case llama3
    /// NFC, split with the Qwen2 pattern (single digits), byte-level, no BOS.
    case qwen2
    /// GPT-2's byte-level pre-tokenizer with its own pattern, no BOS.
    case gpt2

    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public var specialTokens: [String] {
        switch self {
        case .llama3: return ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
        case .qwen2: return ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        case .gpt2: return ["<|endoftext|>"]
        }
    }

    /// The token marking the start of a text (added by the post-processor), if any.
    public var bosToken: String? { self == .llama3 ? "<|begin_of_text|>" : nil }
    /// The token ending a document.
    public var eosToken: String { self == .llama3 ? "<|end_of_text|>" : "<|endoftext|>" }
    public var ignoreMerges: Bool { self == .llama3 }

    static func byteLevel(prefix: Bool, trim: Bool, regex: Bool) -> [String: Any] {
        ["type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": trim, "use_regex": regex]
    }

    static func split(_ pattern: String) -> [String: Any] {
        ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false]
    }

    var normalizerJSON: Any {
        self == .qwen2 ? ["type": "NFC"] as [String: Any] : NSNull()
    }

    var preTokenizerJSON: [String: Any] {
        switch self {
        case .llama3:
            return ["type": "Sequence", "pretokenizers": [Self.split(Self.llama3Pattern), Self.byteLevel(prefix: false, trim: true, regex: false)]]
        case .qwen2:
            return ["type": "Sequence", "pretokenizers": [Self.split(Self.qwen2Pattern), Self.byteLevel(prefix: false, trim: false, regex: false)]]
        case .gpt2:
            return Self.byteLevel(prefix: false, trim: true, regex: true)
        }
    }

    var decoderJSON: [String: Any] { Self.byteLevel(prefix: true, trim: true, regex: true) }

    func postProcessorJSON(ids: [String: Int]) -> [String: Any] {
        guard let bos = bosToken, let id = ids[bos] else { return Self.byteLevel(prefix: true, trim: false, regex: true) }
        let special: [String: Any] = ["SpecialToken": ["id": bos, "type_id": 0]]
        return [
            "type": "TemplateProcessing",
            "single": [special, ["Sequence": ["id": "A", "type_id": 0]]],
            "pair": [special, ["Sequence": ["id": "A", "type_id": 0]], ["SpecialToken": ["id": bos, "type_id": 1]],
                     ["Sequence": ["id": "B", "type_id": 1]]],
            "special_tokens": [bos: ["id": bos, "ids": [id], "tokens": [bos]]],
        ]
    }

    /// A complete tokenizer.json object for this style.
    public func json(vocab: [String: Int], merges: [(String, String)]) -> [String: Any] {
        let added: [[String: Any]] = specialTokens.compactMap { t in
            guard let id = vocab[t] else { return nil }
            return ["id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": true]
        }.sorted { ($0["id"] as! Int) < ($1["id"] as! Int) }
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
            "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignoreMerges,
            "vocab": vocab, "merges": merges.map { [$0.0, $0.1] },
        ]
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": normalizerJSON, "pre_tokenizer": preTokenizerJSON,
            "post_processor": postProcessorJSON(ids: vocab), "decoder": decoderJSON, "model": model,
        ]
    }

    /// The tokenizer.json bytes for this style (keys sorted, so the file is reproducible).
    public func fileData(vocab: [String: Int], merges: [(String, String)]) throws -> Data {
        try JSONSerialization.data(withJSONObject: json(vocab: vocab, merges: merges), options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// A tokenizer with this style's pipeline and the given vocabulary and merges.
    public func tokenizer(vocab: [String: Int], merges: [(String, String)]) throws -> Tokenizer {
        try TokenizerJSON.parse(try fileData(vocab: vocab, merges: merges), source: "tokenizer style \(rawValue)")
    }
}
