import Corpus
import Formats
import Foundation
import Model

/// What `steer train` trains.
public enum TrainingMethod: String, Sendable, Codable, CaseIterable {
    /// One steering vector per block (or per `--layers` block), added at every position.
    case vectors
    /// Every weight of the model.
    case full
    /// Weight adapters (methods.md §2; `AdapterSettings`).
    case lora, loraxs, tinylora
    /// ReFT interventions (methods.md §4; `ReFTSettings`).
    case loreft, noreft, direft, nodireft, consreft, lobireft

    /// The adapter kind of an adapter method.
    public var adapterKind: AdapterKind? { AdapterKind(rawValue: rawValue) }
    /// The intervention kind of a ReFT method.
    public var reftKind: ReFTKind? { ReFTKind(rawValue: rawValue) }
}

/// config.json of a run directory: every setting, and what the run was made for.
public struct RunConfig: Codable, Sendable, Equatable {
    public var method: TrainingMethod
    /// Blocks that carry a steering vector (method vectors).
    public var layers: [Int]
    public var objective: PolicyObjective
    /// A preset of `PolicyObjective`, or "sft".
    public var objectiveName: String
    /// The adapter's settings (methods lora, loraxs, tinylora).
    public var adapter: AdapterSettings?
    /// The interventions' settings (ReFT methods).
    public var reft: ReFTSettings?
    public var settings: RLSettings
    public var template: PromptTemplate
    public var rewards: [String]
    public var problems: String
    /// A hash of the problem file's bytes: resuming needs the same problems.
    public var problemsHash: String
    public var evalProblems: String?
    public var evalEvery: Int
    public var evalSamples: Int
    public var checkpointEvery: Int
    public var modelDirectory: String
    /// `TransformerModel.fingerprint` of the model trained: an adapter applies to it only.
    public var modelHash: String
    public var hiddenSize: Int
    public var layerCount: Int
    public var commandLine: String
    public var workbenchVersion: String

    /// Whether a checkpoint of `self` may continue as `other`: everything that shapes the result
    /// is equal (not the command line, the version, the model's path or the checkpoint interval).
    public func resumes(as other: RunConfig) -> Bool {
        var a = self, b = other
        for c in [\RunConfig.commandLine, \RunConfig.workbenchVersion, \RunConfig.modelDirectory, \RunConfig.problems] {
            a[keyPath: c] = ""; b[keyPath: c] = ""
        }
        a.checkpointEvery = 0; b.checkpointEvery = 0
        a.settings.trainZeroAdvantages = false; b.settings.trainZeroAdvantages = false
        a.evalProblems = a.evalProblems.map { _ in "" }; b.evalProblems = b.evalProblems.map { _ in "" }
        return a == b
    }
}

/// A run directory (docs/steering.md): config.json; the adapter (`vectors.bin` [L·d]
/// float32 for steering vectors, `model/` for full fine-tuning, `adapter.safetensors` for weight
/// adapters) for the last and, under
/// `best/`, the best evaluated parameters; training.h5; eval.h5; checkpoint.safetensors.
public struct RunDirectory {
    public let path: String
    public init(_ path: String) { self.path = path }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The model a run was trained on, for a run directory or a file in it or in its `best/`
    /// (`run/vectors.bin`): what commands use when an adapter is given without `--model`. Nil
    /// when `path` is not in a run, or the run's model was not a file or directory.
    public static func recordedModel(for path: String) -> String? {
        var candidates = [path]
        var parent = (path as NSString).deletingLastPathComponent
        for _ in 0..<2 where !parent.isEmpty {
            candidates.append(parent)
            parent = (parent as NSString).deletingLastPathComponent
        }
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue,
                  let config = try? RunDirectory(candidate).readConfig() else { continue }
            return FileManager.default.fileExists(atPath: config.modelDirectory) ? config.modelDirectory : nil
        }
        return nil
    }
    public var configPath: String { file("config.json") }
    public var checkpointPath: String { file("checkpoint.safetensors") }

    public func writeConfig(_ config: RunConfig) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try makeDirectory(path)
        try writeFileAtomically(try encoder.encode(config), to: configPath)
    }

    public func readConfig() throws -> RunConfig {
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw WorkbenchError("not a run directory (no config.json)", file: path)
        }
        let data = try readFile(configPath)
        do { return try JSONDecoder().decode(RunConfig.self, from: data) } catch {
            throw WorkbenchError("not a run configuration written by steer train (\(error))", file: configPath)
        }
    }

    /// Writes the trainable's current parameters as the run's adapter, under `subdirectory`
    /// ("" for the last, "best" for the best evaluation).
    public func saveAdapter(_ trainable: any Trainable, method: TrainingMethod, model: TransformerModel,
                            subdirectory: String = "") throws {
        let dir = subdirectory.isEmpty ? path : file(subdirectory)
        try makeDirectory(dir)
        switch method {
        case .vectors:
            guard let vectors = trainable as? SteeringVectors else { preconditionFailure("method vectors trains SteeringVectors") }
            try VectorWriter.write(vectors.fullVectors(layerCount: model.config.layerCount), format: .bin,
                                   to: (dir as NSString).appendingPathComponent("vectors.bin"))
        case .full:
            try model.save(to: (dir as NSString).appendingPathComponent("model"), storage: .f32)
        case .lora, .loraxs, .tinylora:
            guard let adapter = trainable as? WeightAdapter else { preconditionFailure("adapter methods train a WeightAdapter") }
            try adapter.save(to: (dir as NSString).appendingPathComponent(WeightAdapter.runFileName))
        case .loreft, .noreft, .direft, .nodireft, .consreft, .lobireft:
            guard let reft = trainable as? ReFTInterventions else { preconditionFailure("ReFT methods train ReFTInterventions") }
            try reft.save(to: (dir as NSString).appendingPathComponent(ReFTInterventions.runFileName))
        }
    }
}

extension SteeringVectors {
    /// [L][d] with zero rows for blocks that carry no vector.
    public func fullVectors(layerCount: Int) -> [[Float]] {
        let d = parameters.first?.value.count ?? 0
        var rows = [[Float]](repeating: [Float](repeating: 0, count: d), count: layerCount)
        for (l, v) in zip(layers, vectors) { rows[l] = v }
        return rows
    }
}

/// Something trained, applied to a model: `workbench forward/generate --adapter`, `steer eval`.
public struct AppliedAdapter {
    /// The model to run (the fine-tuned weights for a full fine-tuning run).
    public var model: TransformerModel
    public var hooks: ForwardHooks
    public var description: String

    /// Where the last block's steering vector acts (an analysis of methods.md §1's claim that it
    /// acts mostly on the first generated token).
    public enum LastBlock: String, CaseIterable, Sendable {
        /// At every position, like the other blocks' vectors.
        case all
        /// At the last prompt position only, whose logits give the first generated token.
        case firstToken = "first-token"
        /// Not at all.
        case off
    }

    /// `path` is a run directory (its last parameters, or `best/` with `best: true`), a PEFT
    /// adapter directory (LoRA or TinyLoRA, adapter_config.json), or a vector file (.bin .npy
    /// .safetensors .gguf, file.h5:/dataset) holding [L, d].
    /// `subspace` applies other rows of a ReFT run's interventions than those it trained (both
    /// halves of a composition).
    public static func load(_ path: String, model: TransformerModel, best: Bool = false,
                            lastBlock: LastBlock = .all, subspace: Range<Int>? = nil) throws -> AppliedAdapter {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if subspace != nil, !(exists && isDirectory.boolValue && (try? RunDirectory(path).readConfig().reft) != nil) {
            throw WorkbenchError("--subspace applies to a ReFT run's interventions", file: path)
        }
        if exists && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("adapter_config.json")) {
            guard lastBlock == .all else { throw WorkbenchError("the last-block analysis applies to steering vectors, not to a PEFT adapter", file: path) }
            let adapter = try WeightAdapter.loadPEFT(path, model: model)
            return AppliedAdapter(model: model, hooks: adapter.hooks(), description: "PEFT \(adapter.kind.rawValue) adapter from \(path) (\(adapter.parameterCount) parameters)")
        }
        if exists && isDirectory.boolValue {
            let run = RunDirectory(path)
            let config = try run.readConfig()
            guard config.hiddenSize == model.config.hiddenSize && config.layerCount == model.config.layerCount
                    && config.modelHash == model.fingerprint else {
                throw WorkbenchError("this run was trained on another model (\(config.modelDirectory), hash \(config.modelHash)); the model given has hash \(model.fingerprint)", file: run.configPath)
            }
            let dir = best ? run.file("best") : path
            switch config.method {
            case .vectors:
                let file = (dir as NSString).appendingPathComponent("vectors.bin")
                guard FileManager.default.fileExists(atPath: file) else {
                    throw WorkbenchError("no vectors.bin (the run has not saved parameters yet)", file: dir)
                }
                return try vectors(file, model: model, lastBlock: lastBlock)
            case .full:
                guard lastBlock == .all else { throw WorkbenchError("the last-block analysis applies to steering vectors, not to a full fine-tuning run", file: path) }
                let weights = try TransformerModel.load(directory: (dir as NSString).appendingPathComponent("model"))
                return AppliedAdapter(model: weights, hooks: ForwardHooks(), description: "fully fine-tuned weights from \(dir)/model")
            case .lora, .loraxs, .tinylora:
                guard lastBlock == .all else { throw WorkbenchError("the last-block analysis applies to steering vectors, not to a \(config.method.rawValue) run", file: path) }
                let file = (dir as NSString).appendingPathComponent(WeightAdapter.runFileName)
                guard FileManager.default.fileExists(atPath: file) else {
                    throw WorkbenchError("no \(WeightAdapter.runFileName) (the run has not saved parameters yet)", file: dir)
                }
                let adapter = try WeightAdapter.load(file, model: model)
                return AppliedAdapter(model: model, hooks: adapter.hooks(), description: "\(adapter.kind.rawValue) adapter from \(file) (\(adapter.parameterCount) parameters)")
            case .loreft, .noreft, .direft, .nodireft, .consreft, .lobireft:
                guard lastBlock == .all else { throw WorkbenchError("the last-block analysis applies to steering vectors, not to a \(config.method.rawValue) run", file: path) }
                let file = (dir as NSString).appendingPathComponent(ReFTInterventions.runFileName)
                guard FileManager.default.fileExists(atPath: file) else {
                    throw WorkbenchError("no \(ReFTInterventions.runFileName) (the run has not saved parameters yet)", file: dir)
                }
                var reft = try ReFTInterventions.load(file, config: model.config)
                if let subspace { reft = try reft.restricted(to: subspace) }
                let s = reft.settings
                return AppliedAdapter(model: model, hooks: reft.hooks(),
                                      description: "\(s.kind.rawValue) interventions from \(file) (blocks \(s.layers.map(String.init).joined(separator: ",")), \(s.positions)\(s.shareWeights ? " tied" : ""), rank \(s.rank)\(s.subspace.map { ", rows \($0[0])..<\($0[1])" } ?? ""), \(reft.parameterCount) parameters)")
            }
        }
        return try vectors(path, model: model, lastBlock: lastBlock)
    }

    static func vectors(_ spec: String, model: TransformerModel, lastBlock: LastBlock) throws -> AppliedAdapter {
        let file = try VectorFile.load(spec, config: model.config)
        guard file.isPerLayer else {
            throw WorkbenchError("holds one vector of \(model.config.hiddenSize) values; an adapter needs one per block ([\(model.config.layerCount), \(model.config.hiddenSize)])", file: spec)
        }
        for (l, row) in file.rows.enumerated() where row.contains(where: { !$0.isFinite }) {
            throw WorkbenchError("vector \(l) contains NaN or infinity", file: spec)
        }
        var rows = file.rows
        let last = rows.count - 1
        if lastBlock == .off { rows[last] = [Float](repeating: 0, count: rows[last].count) }
        let vectors = SteeringVectors(vectors: rows)
        if lastBlock == .firstToken { vectors.selectionByLayer[last] = .lastPrompt(1) }
        return AppliedAdapter(model: model, hooks: try vectors.hooks(for: model.config),
                              description: "steering vectors from \(spec)" + (lastBlock == .all ? "" : " (last block: \(lastBlock.rawValue))"))
    }
}

extension Trainable {
    /// Hooks carrying the trainable alone.
    public func hooks() -> ForwardHooks {
        var h = ForwardHooks()
        attach(to: &h)
        return h
    }
}
