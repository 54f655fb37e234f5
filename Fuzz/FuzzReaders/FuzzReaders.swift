import Corpus
import Formats
import Foundation
import Influence
import Lens
import Model
import Steering
import Tokenizers

/// What each fuzz target does with one input: hand it to a reader (and use what the reader
/// returns). A reader may refuse an input with an error; it must never crash, hang or
/// allocate more than the input justifies. The libFuzzer executables (Fuzz/Fuzz*) and the
/// regression tests (Tests/FuzzTests) both call these.
public enum FuzzReaders {
    /// Every target by name, for the regression tests.
    public static let all: [String: (Data) -> Void] = [
        "FuzzSafeTensors": safeTensors, "FuzzModelFiles": modelFiles, "FuzzTokenizerJSON": tokenizerJSON,
        "FuzzJSONL": jsonl, "FuzzVectorFiles": vectorFile, "FuzzAdapterFiles": adapterFiles, "FuzzResultFiles": resultFiles,
    ]

    /// One safetensors file: parsed and validated, then every tensor read as float32.
    public static func safeTensors(_ data: Data) {
        withFile(data) { path in
            if let file = try? SafeTensorsFile(path: path) {
                for name in file.tensors.keys.sorted() { _ = try? file.floatTensor(name) }
            }
        }
    }

    /// The JSON files of a model directory; the first byte picks: config.json (into a
    /// ModelConfig: every field's type, range and consistency checked),
    /// model.safetensors.index.json (beside the shards of a small sharded checkpoint: every
    /// shard name and tensor location checked) or tokenizer_config.json (`--template auto`).
    public static func modelFiles(_ data: Data) {
        guard let kind = data.first else { return }
        let body = Data(data.dropFirst())
        switch kind % 3 {
        case 0: _ = try? ModelConfig(json: body, path: "config.json")
        case 1:
            let index = shardedDirectory + "/model.safetensors.index.json"
            FileManager.default.createFile(atPath: index, contents: body)
            if let files = try? CheckpointFiles(directory: shardedDirectory) {
                for name in files.tensorNames.sorted() { _ = files.info(name) }
            }
        default:
            withDirectory { directory in
                FileManager.default.createFile(atPath: directory + "/tokenizer_config.json", contents: body)
                _ = try? PromptTemplate.parse("auto", chatTemplate: try ModelSource(directory).chatTemplate())
            }
        }
    }

    /// A copy of the sharded test checkpoint's shards, made once per process.
    static let shardedDirectory: String = {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/ModelTests/Fixtures/llama_sharded").path
        let directory = NSTemporaryDirectory() + "workbench-fuzz-shards-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? [] where name.hasPrefix("model-") {
            try? FileManager.default.copyItem(atPath: source + "/" + name, toPath: directory + "/" + name)
        }
        return directory
    }()

    /// tokenizer.json: loaded, then a text with several scripts, digits, whitespace runs and
    /// special-token look-alikes encoded and decoded back.
    public static func tokenizerJSON(_ data: Data) {
        withFile(data, suffix: ".json") { path in
            guard let tokenizer = try? Tokenizer.load(path: path) else { return }
            let ids = tokenizer.encode("Hello  world 12345\n\tünïcødé 日本語 🙂 <|endoftext|> <s>")
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
    }

    /// A .jsonl file read as a corpus (documents with ids; then bad lines skipped) and as
    /// queries / problems.
    public static func jsonl(_ data: Data) {
        withFile(data, suffix: ".jsonl") { path in
            for skipBad in [false, true] {
                if let stream = try? DocumentStream(path: path, requireIDs: true, skipBad: skipBad) { _ = try? stream.catalogue() }
            }
            _ = try? Query.load(path, requiring: [])
            _ = try? Query.load(path, requiring: [.completion])
        }
    }

    /// The vector formats `lens inspect` and `--adapter` read besides HDF5 datasets (those are
    /// in `resultFiles`): the first byte picks .bin, .npy, .safetensors or .gguf, the rest is the
    /// file, read for the embedded model's width and depth.
    public static func vectorFile(_ data: Data) {
        guard let format = data.first else { return }
        let suffix = [".bin", ".npy", ".safetensors", ".gguf"][Int(format) % 4]
        withFile(data.dropFirst(), suffix: suffix) { path in
            _ = try? VectorFile.load(path, config: embeddedModel.config)
            // A GGUF file is also read as a model file: its config, every weight and its tokenizer.
            if suffix == ".gguf", let source = try? ModelSource(path) {
                _ = try? source.loadModel()
                if let tokenizer = try? source.loadTokenizer() { _ = tokenizer.encode("Hello 12345 <|im_start|> 日本") }
                _ = try? source.chatTemplate()
            }
        }
    }

    /// The adapter files `--adapter`, `steer eval` and `steer export` read, for the embedded
    /// model: the first byte picks a run's adapter.safetensors, a ReFT run's reft.safetensors,
    /// or a PEFT directory whose adapter_config.json and adapter_model.safetensors are the rest
    /// cut at its first NUL byte.
    public static func adapterFiles(_ data: Data) {
        guard let kind = data.first else { return }
        let body = data.dropFirst()
        switch kind % 3 {
        case 0: withFile(body, suffix: "-adapter.safetensors") { _ = try? WeightAdapter.load($0, model: embeddedModel) }
        case 1: withFile(body, suffix: "-reft.safetensors") { _ = try? ReFTInterventions.load($0, config: embeddedModel.config) }
        default:
            withDirectory { directory in
                let cut = body.firstIndex(of: 0) ?? body.endIndex
                FileManager.default.createFile(atPath: directory + "/adapter_config.json", contents: Data(body[body.startIndex..<cut]))
                FileManager.default.createFile(atPath: directory + "/adapter_model.safetensors",
                                               contents: cut < body.endIndex ? Data(body[(cut + 1)...]) : Data())
                _ = try? WeightAdapter.loadPEFT(directory, model: embeddedModel)
            }
        }
    }

    /// The HDF5 files the commands read, for the embedded model: the first byte picks a score
    /// file (`influence merge`, `analyze`), EK-FAC factors (`influence score`, `self`), a tuned
    /// lens (`lens run --tuned`) or a vector dataset (`lens inspect file.h5:/vectors`).
    public static func resultFiles(_ data: Data) {
        guard let kind = data.first else { return }
        withFile(data.dropFirst(), suffix: ".h5") { path in
            switch kind % 4 {
            case 0: _ = try? ScoreTable(path: path)
            case 1: _ = try? EKFACFactors(path: path, model: embeddedModel)
            case 2: _ = try? TunedLens(path: path, model: embeddedModel)
            default: _ = try? VectorFile.load(path + ":/vectors", config: embeddedModel.config)
            }
        }
    }

    static let embeddedModel = try! TransformerModel.load(directory: DefaultModel.directory)

    /// A fresh directory (per process), removed afterwards.
    static func withDirectory(_ body: (String) -> Void) {
        let directory = NSTemporaryDirectory() + "workbench-fuzz-dir-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        body(directory)
    }

    /// The readers take paths: the input goes to a file of its own (per process, so parallel
    /// fuzzing jobs do not collide), removed afterwards.
    static func withFile(_ data: Data, suffix: String = "", _ body: (String) -> Void) {
        let path = NSTemporaryDirectory() + "workbench-fuzz-\(getpid())\(suffix)"
        FileManager.default.createFile(atPath: path, contents: data)
        defer { unlink(path) }
        body(path)
    }
}
