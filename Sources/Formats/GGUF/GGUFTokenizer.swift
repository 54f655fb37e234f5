import Foundation
import Model
import Tokenizers

/// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` keys, as a tokenizer.json
/// object: the same pipeline the workbench reads from Hugging Face directories, so one
/// encoder serves both, and `workbench import` writes this object as the model's tokenizer.json.
///
/// Byte-level BPE (`tokenizer.ggml.model` = gpt2) only. The pre-tokenizer is the list of
/// regular expressions llama.cpp keeps for the name in `tokenizer.ggml.pre` (src/llama-vocab.cpp),
/// each an isolating split, then the byte-level mapping (GPT-2's rule, when last, as the byte-level
/// step's own regex); control tokens (type 3) become special added tokens and user-defined ones
/// (type 4) plain added tokens, both matched in the text before any normalisation. Where llama.cpp and the
/// model's original tokenizer.json differ, the original wins: Qwen2's NFC normalizer is kept.
public enum GGUFTokenizer {
    /// Pre-tokenizer names and their regexes, as llama.cpp splits (in order).
    static let gpt2Rule = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let llama3Rule = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Rule = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public static let preTokenizers: [String: [String]] = {
        var table: [String: [String]] = [
            "default": [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2Rule, #"\p{N}+"#, "[0-9][0-9][0-9]"],
            "qwen2": [qwen2Rule],
        ]
        for name in ["llama-bpe", "llama3", "llama-v3"] { table[name] = [llama3Rule] }
        for name in ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"] { table[name] = [#"\p{N}"#, gpt2Rule] }
        for name in ["gpt-2", "gpt2", "mpt", "olmo", "jais"] { table[name] = [gpt2Rule] }
        return table
    }()

    /// Pre-tokenizers whose original tokenizer.json sets BPE's ignore_merges (a whole word
    /// found in the vocabulary is one token), as llama.cpp does for them.
    static let ignoringMerges: Set<String> = ["llama-bpe", "llama3", "llama-v3"]

    /// The tokenizer of `file`.
    public static func load(_ file: GGUFFile) throws -> Tokenizer {
        let json = try tokenizerJSON(file)
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])
        return try Tokenizer.load(json: data, source: file.path)
    }

    /// A tokenizer.json object for the tokenizer in `file`.
    public static func tokenizerJSON(_ file: GGUFFile) throws -> [String: Any] {
        func fail(_ m: String) -> WorkbenchError { WorkbenchError(m, file: file.path) }
        guard let kind = try file.string("tokenizer.ggml.model") else { throw fail("no tokenizer in the file (tokenizer.ggml.model is missing)") }
        switch kind {
        case "gpt2": break
        case "llama": throw fail("SentencePiece tokenizers (tokenizer.ggml.model 'llama': Llama 2, TinyLlama, Mistral) are not supported; only byte-level BPE ('gpt2')")
        default: throw fail("tokenizer.ggml.model '\(kind)' is not supported; only byte-level BPE ('gpt2')")
        }
        guard let tokens = try file.strings("tokenizer.ggml.tokens") else { throw fail("missing tokenizer.ggml.tokens") }
        let merges = try file.strings("tokenizer.ggml.merges") ?? []
        let types = try file.ints("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw fail("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let pre = try file.string("tokenizer.ggml.pre") ?? "default"
        guard let rules = preTokenizers[pre] else {
            throw fail("pre-tokenizer '\(pre)' (tokenizer.ggml.pre) is not supported; supported: \(preTokenizers.keys.sorted().joined(separator: ", "))")
        }

        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        var added: [[String: Any]] = []
        for (id, token) in tokens.enumerated() {
            if vocab[token] == nil { vocab[token] = id }
            let type = types.isEmpty ? 1 : types[id]
            if type == 3 || type == 4 {
                added.append(["id": id, "content": token, "special": type == 3, "normalized": false,
                              "lstrip": false, "rstrip": false, "single_word": false])
            }
        }
        let mergePairs: [[String]] = try merges.enumerated().map { i, m in
            let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("tokenizer.ggml.merges[\(i)] '\(m)' is not two tokens separated by a space") }
            return parts.map(String.init)
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try file.int("tokenizer.ggml.\(key)") else { return nil }
            guard id >= 0, id < tokens.count else { throw fail("tokenizer.ggml.\(key) \(id) is not a token id (\(tokens.count) tokens)") }
            return id
        }
        // No unknown token: a byte-level vocabulary missing a byte drops it, as the original
        // tokenizer.json (unk_token null) does; llama.cpp's unknown_token_id is not used here.
        let bos = try tokenID("bos_token_id"), eos = try tokenID("eos_token_id")
        let addBOS = try file.bool("tokenizer.ggml.add_bos_token") ?? false
        let addEOS = try file.bool("tokenizer.ggml.add_eos_token") ?? false

        // GPT-2's rule last is the byte-level pre-tokenizer's own regex: written as that, it can
        // honour `add_space_prefix` (one space before a text that lacks it), as the original does.
        let addSpace = try file.bool("tokenizer.ggml.add_space_prefix") ?? false
        let byteLevelRegex = rules.last == gpt2Rule
        guard !addSpace || byteLevelRegex else {
            throw fail("tokenizer.ggml.add_space_prefix with pre-tokenizer '\(pre)' is not supported")
        }
        var steps: [[String: Any]] = rules.dropLast(byteLevelRegex ? 1 : 0).map {
            ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false]
        }
        steps.append(["type": "ByteLevel", "add_prefix_space": addSpace, "trim_offsets": true, "use_regex": byteLevelRegex])
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(),
            "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": ignoringMerges.contains(pre), "vocab": vocab, "merges": mergePairs,
        ]
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": added,
            "normalizer": pre == "qwen2" ? ["type": "NFC"] as [String: Any] : NSNull(),
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": steps],
            "post_processor": postProcessor(bos: addBOS ? bos.map { tokens[$0] } : nil, eos: addEOS ? eos.map { tokens[$0] } : nil, vocab: vocab),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": model,
        ]
    }

    /// Template processing adding BOS before and / or EOS after a text, or none.
    static func postProcessor(bos: String?, eos: String?, vocab: [String: Int]) -> Any {
        guard bos != nil || eos != nil else { return NSNull() }
        func special(_ t: String, _ typeID: Int) -> [String: Any] { ["SpecialToken": ["id": t, "type_id": typeID]] }
        func sequence(_ id: String, _ typeID: Int) -> [String: Any] { ["Sequence": ["id": id, "type_id": typeID]] }
        var single: [[String: Any]] = [], pair: [[String: Any]] = []
        var specials: [String: Any] = [:]
        for t in [bos, eos].compactMap({ $0 }) { specials[t] = ["id": t, "ids": [vocab[t] ?? 0], "tokens": [t]] }
        if let bos { single.append(special(bos, 0)) }
        single.append(sequence("A", 0))
        if let eos { single.append(special(eos, 0)) }
        pair = single
        if let bos { pair.append(special(bos, 1)) }
        pair.append(sequence("B", 1))
        if let eos { pair.append(special(eos, 1)) }
        return ["type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials]
    }
}
