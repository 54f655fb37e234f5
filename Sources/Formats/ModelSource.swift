import Foundation
import Model
import Tokenizers

/// Where a command's model comes from: a Hugging Face checkpoint directory or a GGUF file
/// (llama.cpp, Ollama, LM Studio), read directly and dequantised to float32 in memory.
/// Every command opens its `--model` through this, so both kinds work everywhere.
public final class ModelSource: @unchecked Sendable {
    public enum Kind { case directory, gguf(GGUFFile) }

    public let path: String
    public let kind: Kind

    /// `given`, or the embedded model when nil. A file is read as GGUF (whatever its name:
    /// Ollama keeps its models as `sha256-…` blobs); a directory as a Hugging Face checkpoint.
    public init(_ given: String?) throws {
        let path = try DefaultModel.resolve(given)
        self.path = path
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue || !exists && path.lowercased().hasSuffix(".gguf") {
            guard exists else { throw WorkbenchError("no such file", file: path) }
            let magic = FileHandle(forReadingAtPath: path).map { handle in defer { try? handle.close() }; return handle.readData(ofLength: 4) }
            guard magic == Data("GGUF".utf8) else {
                throw WorkbenchError("neither a GGUF file nor a model directory (--model takes a Hugging Face checkpoint directory or a GGUF file)", file: path)
            }
            kind = .gguf(try GGUFFile(path: path))
        } else {
            kind = .directory
        }
    }

    public var isGGUF: Bool { if case .gguf = kind { return true } else { return false } }

    /// The model; `progress(done, total)` is told after each tensor of a GGUF file.
    public func loadModel(progress: ((Int, Int) -> Void)? = nil) throws -> TransformerModel {
        switch kind {
        case .directory: return try TransformerModel.load(directory: path)
        case .gguf(let file): return try GGUFModel.load(file, progress: progress)
        }
    }

    /// The model's tokenizer: tokenizer.json, or the GGUF file's own.
    public func loadTokenizer() throws -> Tokenizer {
        switch kind {
        case .directory: return try Tokenizer.load(modelDirectory: path)
        case .gguf(let file): return try GGUFTokenizer.load(file)
        }
    }

    /// The model's chat template (Jinja source) and the file it was found in, if it has one:
    /// `tokenizer.chat_template` in a GGUF file; in a directory tokenizer_config.json's
    /// `chat_template` (a string, or a list of named templates whose `default` is taken), else
    /// `chat_template.jinja` beside it (as transformers 5 saves it).
    public func chatTemplate() throws -> (text: String, file: String)? {
        switch kind {
        case .gguf(let file):
            return try file.string("tokenizer.chat_template").map { ($0, file.path) }
        case .directory:
            let config = (path as NSString).appendingPathComponent("tokenizer_config.json")
            if FileManager.default.fileExists(atPath: config) {
                guard let object = try? JSONSerialization.jsonObject(with: try readFile(config)) as? [String: Any] else {
                    throw WorkbenchError("not a JSON object", file: config)
                }
                if let text = object["chat_template"] as? String { return (text, config) }
                if let named = object["chat_template"] as? [[String: Any]] {
                    guard let text = named.first(where: { $0["name"] as? String == "default" })?["template"] as? String else {
                        throw WorkbenchError("chat_template is a list without a 'default' template", file: config)
                    }
                    return (text, config)
                }
            }
            let jinja = (path as NSString).appendingPathComponent("chat_template.jinja")
            if FileManager.default.fileExists(atPath: jinja) {
                return (String(decoding: try readFile(jinja), as: UTF8.self), jinja)
            }
            return nil
        }
    }

    /// Writes the tokenizer files of a Hugging Face directory for this model into `directory`:
    /// tokenizer.json (the directory's own, or the GGUF tokenizer's), and for a GGUF file
    /// tokenizer_config.json (special tokens, add_bos_token, the chat template) and
    /// generation_config.json (bos / eos / pad ids); for a directory those two are copied when present.
    public func writeTokenizerFiles(to directory: String) throws {
        func target(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        switch kind {
        case .directory:
            for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"] {
                let from = (path as NSString).appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: from),
                      absolutePath(from) != absolutePath(target(name)) else { continue }
                try writeFileAtomically(try readFile(from), to: target(name))
            }
        case .gguf(let file):
            let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            if try file.string("tokenizer.ggml.model") != nil {   // a file without a tokenizer gets none
                try writeFileAtomically(try JSONSerialization.data(withJSONObject: try GGUFTokenizer.tokenizerJSON(file), options: options),
                                        to: target("tokenizer.json"))
            }
            let tokens = try file.strings("tokenizer.ggml.tokens") ?? []
            var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false,
                                         "add_bos_token": try file.bool("tokenizer.ggml.add_bos_token") ?? false,
                                         "add_eos_token": try file.bool("tokenizer.ggml.add_eos_token") ?? false]
            var generation: [String: Any] = [:]
            for (key, name) in [("bos", "bos"), ("eos", "eos"), ("padding", "pad"), ("unknown", "unk")] {
                guard let id = try file.int("tokenizer.ggml.\(key)_token_id"), id >= 0, id < tokens.count else { continue }
                config["\(name)_token"] = tokens[id]
                if name != "unk" { generation["\(name)_token_id"] = id }
            }
            if let context = try file.int("\(try file.string("general.architecture") ?? "").context_length") { config["model_max_length"] = context }
            if let template = try chatTemplate() { config["chat_template"] = template.text }
            try writeFileAtomically(try JSONSerialization.data(withJSONObject: config, options: options), to: target("tokenizer_config.json"))
            try writeFileAtomically(try JSONSerialization.data(withJSONObject: generation, options: options), to: target("generation_config.json"))
        }
    }
}
