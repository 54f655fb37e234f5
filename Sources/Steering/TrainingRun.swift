import Cluster
import Corpus
import Formats
import Foundation
import Model
import Tokenizers

/// `steer train` as a library call: builds the trainable, resumes or starts the run
/// directory, evaluates at the start, every `evalEvery` steps and at the end (keeping the
/// best parameters by mean@k), checkpoints every `checkpointEvery` steps, and rewrites
/// training.h5 after every step and eval.h5 after every evaluation (docs/steering.md).
public struct TrainingRun {
    public var method: TrainingMethod
    /// Blocks carrying a steering vector (nil: all).
    public var layers: [Int]?
    /// The adapter of methods lora, loraxs and tinylora.
    public var adapter: AdapterSettings?
    /// The interventions of the ReFT methods.
    public var reft: ReFTSettings?
    /// A preset of `PolicyObjective`, or "sft" (supervised: `problemsPath` holds {"prompt", "completion"} records).
    public var objectiveName: String
    public var objective: PolicyObjective
    public var settings: RLSettings
    public var template: PromptTemplate
    public var rewards: [any Reward]
    public var problemsPath: String
    public var evalPath: String?
    public var evalEvery: Int
    public var evalSamples: Int
    public var checkpointEvery: Int
    public var out: String
    public var commandLine: [String]
    /// The ranks of an MPI job sharing each step (docs/scaling.md); rank 0 evaluates and
    /// writes the run directory.
    public var group: ProcessGroup = .single

    public init(method: TrainingMethod, layers: [Int]?, adapter: AdapterSettings? = nil, reft: ReFTSettings? = nil, objectiveName: String, objective: PolicyObjective, settings: RLSettings,
                template: PromptTemplate, rewards: [any Reward], problemsPath: String, evalPath: String?, evalEvery: Int,
                evalSamples: Int, checkpointEvery: Int, out: String, commandLine: [String] = CommandLine.arguments) {
        self.method = method; self.layers = layers; self.adapter = adapter; self.reft = reft; self.objectiveName = objectiveName; self.objective = objective
        self.settings = settings; self.template = template; self.rewards = rewards; self.problemsPath = problemsPath
        self.evalPath = evalPath; self.evalEvery = evalEvery; self.evalSamples = evalSamples
        self.checkpointEvery = checkpointEvery; self.out = out; self.commandLine = commandLine
    }

    /// What the caller hears about.
    public enum Event {
        case resumed(step: Int)
        case parameters(count: Int)
        /// After every step; `orthonormality` is the largest |R Rᵀ − I| of ReFT's orthonormal kinds.
        case step(StepMetrics, total: Int, orthonormality: Double?)
        case evaluated(step: Int, PolicyEvaluation)
        case saved(String)
    }

    /// One evaluation's summary (eval.h5's history).
    struct EvalPoint: Codable { var step: Int; var greedy: Double; var meanAtK: Double; var passAtK: Double }

    public var isSupervised: Bool { objectiveName == "sft" }

    /// Runs (or resumes) the run. With `--method full` the model's own weights are trained in
    /// place (a frozen copy is kept for the KL term only when β > 0): pass a model whose
    /// weights are owned (`ModelWeights.ownedCopy()`), not borrowed from an f32 file mapping.
    @discardableResult
    public func run(model base: TransformerModel, tokenizer: Tokenizer, events: (Event) -> Void = { _ in }) throws -> [StepMetrics] {
        let problems = isSupervised ? try Query.load(problemsPath, requiring: [.completion]) : try Self.loadProblems(problemsPath)
        let evalProblems = try evalPath.map(Self.loadProblems)
        let L = base.config.layerCount
        if let layers {
            guard !layers.isEmpty, layers.allSatisfy({ $0 >= 0 && $0 < L }), Set(layers).count == layers.count else {
                throw WorkbenchError("--layers: each block once, between 0 and \(L - 1)")
            }
        }
        let baseHash = base.fingerprint
        let provenance = Provenance(model: base, commandLine: commandLine)
        // The model trained, the trainable, and π_ref for the KL term.
        let model: TransformerModel, trainable: any Trainable, reference: TransformerModel?
        switch method {
        case .vectors:
            model = base
            trainable = SteeringVectors(zerosFor: base.config, layers: layers?.sorted())
            reference = base   // the same model without hooks
        case .lora, .loraxs, .tinylora:
            guard let adapter, adapter.kind == method.adapterKind else { preconditionFailure("an adapter method needs its settings") }
            model = base
            trainable = try WeightAdapter.initialise(adapter, model: base)
            reference = base
        case .loreft, .noreft, .direft, .nodireft, .consreft, .lobireft:
            guard let reft, reft.kind == method.reftKind else { preconditionFailure("a ReFT method needs its settings") }
            model = base
            trainable = try ReFTInterventions.initialise(reft, config: base.config)
            reference = base
        case .full:
            guard base.weights.named.allSatisfy({ $0.tensor.storage.isOwned }) else {
                throw WorkbenchError("full fine-tuning needs the model's weights in memory it owns, not a read-only file mapping")
            }
            model = base
            trainable = FullFineTune(model: model)
            reference = objective.klCoefficient != 0
                ? TransformerModel(config: base.config, weights: base.weights.ownedCopy(), directory: base.directory) : nil
        }
        let trainer: any StepTrainer = isSupervised
            ? try SupervisedTrainer(model: model, tokenizer: tokenizer, trainable: trainable, records: problems, template: template,
                                    settings: settings, group: group)
            : try RLTrainer(model: model, tokenizer: tokenizer, trainable: trainable, objective: objective,
                            rewards: rewards, problems: problems, template: template, settings: settings,
                            referenceModel: reference, group: group)
        let evalSampler = RolloutSampler(model: model, tokenizer: tokenizer, template: template, rewards: rewards,
                                         settings: settings.sampling)
        let run = RunDirectory(out)
        let config = RunConfig(method: method, layers: layers?.sorted() ?? Array(0..<L), objective: objective,
                               objectiveName: objectiveName, adapter: adapter, reft: reft, settings: settings, template: template,
                               rewards: rewards.map(\.name), problems: problemsPath,
                               problemsHash: try Self.fileHash(problemsPath), evalProblems: evalPath,
                               evalEvery: evalEvery, evalSamples: evalSamples, checkpointEvery: checkpointEvery,
                               modelDirectory: base.directory.map(absolutePath) ?? "(in memory)", modelHash: baseHash,
                               hiddenSize: base.config.hiddenSize, layerCount: L,
                               commandLine: commandLine.joined(separator: " "), workbenchVersion: WorkbenchVersion.current)
        // One run per directory at a time, taken once the inputs have passed their checks (rank 0 holds the lock for an MPI job).
        if group.isRoot { try OutputLock.acquire(directory: out) }
        var evalHistory: [EvalPoint] = []
        var best: Double = -1
        // An evaluation's score for keeping the best parameters: mean@k, or greedy accuracy without samples.
        let score = { (p: EvalPoint) in evalSamples > 0 ? p.meanAtK : p.greedy }
        if group.isRoot && FileManager.default.fileExists(atPath: run.configPath) {
            guard try run.readConfig().resumes(as: config) else {
                throw WorkbenchError("holds a run with other settings, problems or model; resume it with the same command, or choose another --out", file: run.configPath)
            }
        }
        // Under MPI rank 0 reads the checkpoint and sends it to all (no shared file system needed).
        if let checkpointPath = try sharedCheckpoint(run.checkpointPath) {
            defer { if checkpointPath != run.checkpointPath { try? FileManager.default.removeItem(atPath: checkpointPath) } }
            let extra = try trainer.restoreCheckpoint(from: checkpointPath)
            if let json = extra["eval_history"], let points = try? JSONDecoder().decode([EvalPoint].self, from: Data(json.utf8)) {
                evalHistory = points
                best = points.map(score).max() ?? -1
            }
            events(.resumed(step: trainer.completedSteps))
        } else if group.isRoot {
            try run.writeConfig(config)   // a fresh run, or one stopped before its first checkpoint
        }

        func evaluate() throws {
            guard let evalProblems, group.isRoot else { return }
            let evaluation = try PolicyEvaluation.run(sampler: evalSampler, problems: evalProblems, hooks: trainer.hooks(),
                                                      k: evalSamples, seed: settings.seed)
            let step = trainer.completedSteps
            evalHistory.removeAll { $0.step == step }
            evalHistory.append(EvalPoint(step: step, greedy: evaluation.greedyAccuracy, meanAtK: evaluation.meanAtK,
                                         passAtK: evaluation.passAtK))
            try writeEval(evaluation, history: evalHistory, provenance: provenance, to: run.file("eval.h5"))
            if score(evalHistory.last!) > best {
                best = score(evalHistory.last!)
                try run.saveAdapter(trainable, method: method, model: model, subdirectory: "best")
            }
            events(.evaluated(step: step, evaluation))
        }
        func checkpoint() throws {
            guard group.isRoot else { return }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = String(decoding: try encoder.encode(evalHistory), as: UTF8.self)
            try trainer.saveCheckpoint(to: run.checkpointPath, extra: ["eval_history": json])
            try run.saveAdapter(trainable, method: method, model: model)
        }

        events(.parameters(count: trainable.parameterCount))
        if trainer.completedSteps == 0 && evalHistory.isEmpty { try evaluate() }
        while trainer.completedSteps < settings.steps {
            let metrics = try trainer.step()
            if group.isRoot { try writeTraining(trainer.history, config: config, provenance: provenance, to: run.file("training.h5")) }
            let orthonormality = (trainable as? ReFTInterventions).flatMap { $0.settings.kind.orthonormal ? $0.orthonormalityError : nil }
            events(.step(metrics, total: settings.steps, orthonormality: orthonormality))
            let s = trainer.completedSteps
            if evalEvery > 0 && s % evalEvery == 0 && s < settings.steps { try evaluate() }
            if checkpointEvery > 0 && s % checkpointEvery == 0 && s < settings.steps { try checkpoint() }
        }
        if evalHistory.last?.step != trainer.completedSteps { try evaluate() }
        try checkpoint()
        try group.barrier()
        events(.saved(out))
        return trainer.history
    }

    /// The checkpoint to resume from, or nil for a fresh run: the run directory's own in one
    /// process; under MPI rank 0's, copied to a scratch file on every other rank.
    func sharedCheckpoint(_ path: String) throws -> String? {
        guard group.isDistributed else { return FileManager.default.fileExists(atPath: path) ? path : nil }
        let bytes = group.isRoot && FileManager.default.fileExists(atPath: path) ? try readFile(path) : Data()
        let shared = try group.broadcast(bytes)
        guard !shared.isEmpty else { return nil }
        if group.isRoot { return path }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("workbench-checkpoint-\(getpid()).safetensors").path
        try shared.write(to: URL(fileURLWithPath: scratch))
        return scratch
    }

    static func fileHash(_ path: String) throws -> String {
        let data = try readFile(path)
        var h = ContentHash()
        h.update(data)
        return h.hex
    }

    /// Problems whose answers are numbers (the exact-answer reward compares numbers).
    public static func loadProblems(_ path: String) throws -> [Query] {
        let problems = try Query.load(path, requiring: [.answer])
        for (n, p) in problems.enumerated() where AnswerChecker.numericValue(p.answer!) == nil {
            throw WorkbenchError("record \(n + 1) (id \(p.id)): answer '\(p.answer!)' is not a number", file: path)
        }
        return problems
    }

    func writeTraining(_ history: [StepMetrics], config: RunConfig, provenance: Provenance, to path: String) throws {
        let file = try HDF5Writer(path: path)
        try provenance.write(to: file)
        try file.writeInt32("step", shape: [history.count], history.map(\.step))
        for (k, name) in StepMetrics.names.enumerated() {
            try file.writeFloats(name, shape: [history.count], history.map { Float($0.values[k]) })
        }
        try file.setAttribute("method", .string(config.method.rawValue))
        try file.setAttribute("objective", .string(config.objectiveName))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try file.setAttribute("config", .string(String(decoding: try encoder.encode(config), as: UTF8.self)))
        try file.commit()
    }

    func writeEval(_ e: PolicyEvaluation, history: [EvalPoint], provenance: Provenance, to path: String) throws {
        let file = try HDF5Writer(path: path)
        try provenance.write(to: file)
        try file.writeInt32("history/step", shape: [history.count], history.map(\.step))
        try file.writeFloats("history/greedy_accuracy", shape: [history.count], history.map { Float($0.greedy) })
        try file.writeFloats("history/mean_at_k", shape: [history.count], history.map { Float($0.meanAtK) })
        try file.writeFloats("history/pass_at_k", shape: [history.count], history.map { Float($0.passAtK) })
        try writeEvaluation(e, to: file)
        try file.commit()
    }
}

/// The per-problem datasets of an evaluation (eval.h5, `steer eval`).
public func writeEvaluation(_ e: PolicyEvaluation, to file: HDF5Writer) throws {
    let P = e.problemIDs.count
    try file.setAttribute("k", .int(e.k))
    try file.setAttribute("greedy_accuracy", .double(e.greedyAccuracy))
    try file.setAttribute("mean_at_k", .double(e.meanAtK))
    try file.setAttribute("pass_at_k", .double(e.passAtK))
    try file.setAttribute("greedy_format_rate", .double(e.greedyFormatRate))
    try file.writeStrings("problem_ids", e.problemIDs)
    try file.writeStrings("greedy_texts", e.greedyTexts)
    try file.writeInt32("greedy_correct", shape: [P], e.greedyCorrect.map { $0 ? 1 : 0 })
    try file.writeInt32("greedy_answered", shape: [P], e.greedyAnswered.map { $0 ? 1 : 0 })
    if e.k > 0 {
        try file.setAttribute("sample_format_rate", .double(e.sampleFormatRate))
        try file.writeStrings("sample_texts", shape: [P, e.k], e.sampleTexts.flatMap { $0 })
        try file.writeInt32("sample_correct", shape: [P, e.k], e.sampleCorrect.flatMap { $0.map { $0 ? 1 : 0 } })
        try file.writeInt32("sample_answered", shape: [P, e.k], e.sampleAnswered.flatMap { $0.map { $0 ? 1 : 0 } })
    }
}
