import Cluster
import Corpus
import Foundation
import Model
import Tokenizers

/// Supervised fine-tuning (`--objective sft`) for any `Trainable`: each step takes
/// `promptsPerStep` records {"prompt", "completion"} from the seeded stream (the RL trainer's),
/// and minimises the mean cross-entropy over their completion tokens, the prompt rendered by
/// the run's template and the completion followed by the model's end-of-sequence token, so
/// the model learns to stop as it must under RL and evaluation. Same optimiser, metrics,
/// checkpoints and resume as RL; the reward columns of the metrics stay 0, `accuracy` is the
/// fraction of completion tokens that greedy decoding would predict (teacher forcing).
public final class SupervisedTrainer: StepTrainer {
    public let model: TransformerModel
    public let trainable: any Trainable
    public let settings: RLSettings
    public let loop: OptimizationLoop
    /// Tokenised records: the rendered prompt and the completion (+ end of sequence).
    let examples: [(prompt: [Int], completion: [Int])]
    public var history: [StepMetrics] = []
    public var cursor = 0
    /// The ranks sharing each step's micro-batches (one process without mpirun).
    public let group: ProcessGroup

    public init(model: TransformerModel, tokenizer: Tokenizer, trainable: any Trainable, records: [Query],
                template: PromptTemplate, settings: RLSettings, group: ProcessGroup = .single) throws {
        guard !records.isEmpty else { throw WorkbenchError("no training records") }
        guard settings.promptsPerStep >= 1, settings.steps >= 1 else {
            throw WorkbenchError("--prompts-per-step and --steps must be at least 1")
        }
        self.model = model
        self.trainable = trainable
        self.settings = settings
        self.group = group
        let eos = model.config.eosTokenIds.first
        examples = try records.map { q in
            guard let text = q.completion else { throw WorkbenchError("record \(q.id) has no completion") }
            let completion = tokenizer.encode(text, addSpecialTokens: false) + (eos.map { [$0] } ?? [])
            let prompt = tokenizer.encode(template.render(q.prompt))
            guard !prompt.isEmpty, !completion.isEmpty else { throw WorkbenchError("record \(q.id): empty prompt or completion") }
            return (prompt, completion)
        }
        loop = OptimizationLoop(trainable: trainable, optimizer: AdamW(weightDecay: settings.weightDecay),
                                schedule: .constant(settings.learningRate, warmup: Int((settings.warmupFraction * Float(settings.steps)).rounded(.up))),
                                clipNorm: settings.clipNorm)
    }

    @discardableResult
    public func step() throws -> StepMetrics {
        let clock = ContinuousClock(), start = clock.now
        let chosen = (0..<settings.promptsPerStep).map { examples[streamIndex(cursor + $0, count: examples.count, seed: settings.seed)] }
        cursor += settings.promptsPerStep
        let tokens = chosen.reduce(0) { $0 + $1.completion.count }
        var pass: SupervisedPass!
        let report = try loop.step { _ in
            pass = try Self.accumulate(model: model, trainable: trainable, examples: chosen, microBatchSize: settings.microBatchSize,
                                       group: group)
            return pass.loss
        }
        var m = StepMetrics()
        m.step = completedSteps + 1
        m.loss = report.loss
        m.accuracy = Double(pass.correct) / Double(tokens)
        let lengths = chosen.map { Double($0.completion.count) }
        m.completionMean = lengths.reduce(0, +) / Double(lengths.count)
        m.completionMin = lengths.min()!
        m.completionMax = lengths.max()!
        m.entropy = pass.entropySum / Double(tokens)
        m.gradientNorm = report.gradientNorm
        m.learningRate = Double(report.learningRate)
        m.trainingSeconds = (clock.now - start).seconds
        m.trainingTokensPerSecond = Double(chosen.reduce(0) { $0 + $1.prompt.count + $1.completion.count }) / max(m.trainingSeconds, 1e-9)
        history.append(m)
        return m
    }

    /// What one supervised pass measured.
    public struct SupervisedPass: MicroBatchPart {
        /// Mean −log π over the completion tokens, nats.
        public var loss = 0.0
        /// Completion tokens that are their row's most likely token.
        public var correct = 0
        public var entropySum = 0.0

        init() {}

        func write(to message: inout MessageWriter) {
            message.append(loss); message.append(Int64(correct)); message.append(entropySum)
        }

        init(from message: inout MessageReader) throws {
            loss = try message.read(); correct = Int(try message.read(Int64.self)); entropySum = try message.read()
        }
    }

    /// Forward + backward of the mean cross-entropy over the completion tokens of `examples`,
    /// in micro-batches (a share per rank under MPI, as `MicroBatchReduction` says); the
    /// gradients are accumulated into the trainable's parameters.
    public static func accumulate(model: TransformerModel, trainable: any Trainable,
                                  examples: [(prompt: [Int], completion: [Int])], microBatchSize: Int,
                                  group: ProcessGroup = .single) throws -> SupervisedPass {
        let tokens = examples.reduce(0) { $0 + $1.completion.count }
        let V = model.config.vocabSize
        let hooks = trainable.hooks()
        var options = BackwardOptions()
        trainable.prepare(&options)
        let micro = max(1, microBatchSize)
        let count = (examples.count + micro - 1) / micro
        let parts = try MicroBatchReduction.run(count: count, parameters: trainable.parameters, group: group) { k in
            var pass = SupervisedPass()
            let members = Array(examples[(k * micro)..<min(examples.count, (k + 1) * micro)])
            let layout = CompletionBatch(prompts: members.map(\.prompt), completions: members.map(\.completion))
            let batch = layout.tokens, logitRows = layout.logitRows   // logits only where a loss is
            let labels: [Int?] = layout.labels
            let record = ForwardRecord()
            let logits = try model.forward(batch, hooks: hooks, logits: .rows(logitRows), record: record).logits!
            // d(mean −log π)/dlogits = (softmax − onehot) / tokens.
            let (logProbabilities, gradient) = TokenDistribution.chosenLogProbabilities(
                logits: logits, labels: labels, coefficient: { _, _ in 1 / Double(tokens) })
            for (row, label) in labels.enumerated() {
                guard let label, let lp = logProbabilities[row] else { continue }
                pass.loss -= lp / Double(tokens)
                if TokenDistribution.argmax(UnsafeBufferPointer(start: logits.data + row * V, count: V)) == label { pass.correct += 1 }
                pass.entropySum += TokenDistribution.statistics(logits.data + row * V, count: V).entropy
            }
            try model.backward(record, logitGradient: gradient, logitRows: logitRows, hooks: hooks, options: options)
            return pass
        }
        var pass = SupervisedPass()
        for part in parts {
            pass.loss += part.loss
            pass.correct += part.correct
            pass.entropySum += part.entropySum
        }
        return pass
    }
}
