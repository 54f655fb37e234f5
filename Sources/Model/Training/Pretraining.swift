import Foundation

/// Settings of a language-model training run.
public struct TrainingOptions: Sendable, Codable {
    public var steps: Int
    /// Sequences per micro-batch.
    public var batchSize: Int
    /// Micro-batches whose gradients are summed before each update.
    public var accumulation: Int
    /// Tokens per training sequence.
    public var sequenceLength: Int
    public var learningRate: Float
    public var warmupSteps: Int
    public var minLearningRateRatio: Float
    public var weightDecay: Float
    /// Clip the global gradient norm to this (0 = off).
    public var clipNorm: Float
    public var seed: UInt64
    /// Save a resumable checkpoint every this many steps (0 = only at the end).
    public var checkpointEvery: Int

    public init(steps: Int, batchSize: Int = 8, accumulation: Int = 1, sequenceLength: Int = 128,
                learningRate: Float = 3e-3, warmupSteps: Int = 100, minLearningRateRatio: Float = 0.1,
                weightDecay: Float = 0.1, clipNorm: Float = 1, seed: UInt64 = 0, checkpointEvery: Int = 200) {
        self.steps = steps; self.batchSize = batchSize; self.accumulation = accumulation
        self.sequenceLength = sequenceLength; self.learningRate = learningRate; self.warmupSteps = warmupSteps
        self.minLearningRateRatio = minLearningRateRatio; self.weightDecay = weightDecay; self.clipNorm = clipNorm
        self.seed = seed; self.checkpointEvery = checkpointEvery
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, warmup: warmupSteps, total: steps, minRatio: minLearningRateRatio)
    }
}

/// Fixed-length training sequences, visited in an order that depends only on the seed
/// and the epoch, so a resumed run sees the same data. Two layouts:
/// - a token stream cut into windows once, the windows reshuffled every epoch;
/// - documents shuffled and packed anew every epoch, then cut into windows. A document's
///   neighbours, the context its first tokens are predicted from, then change from one
///   epoch to the next, so the model cannot lean on a fixed neighbourhood to remember
///   what a document says.
public struct WindowedTokens: Sendable {
    private enum Layout: Sendable { case stream([Int]), documents([[Int]]) }
    private let layout: Layout
    public let length: Int
    public let tokenCount: Int
    public var windowCount: Int { tokenCount / length }

    public init(stream: [Int], length: Int) throws {
        try self.init(.stream(stream), tokenCount: stream.count, length: length)
    }

    /// Documents (each with its end-of-text separator) repacked every epoch.
    public init(documents: [[Int]], length: Int) throws {
        try self.init(.documents(documents), tokenCount: documents.reduce(0) { $0 + $1.count }, length: length)
    }

    private init(_ layout: Layout, tokenCount: Int, length: Int) throws {
        guard tokenCount >= length else {
            throw WorkbenchError("the corpus has \(tokenCount) tokens, fewer than one sequence of \(length)")
        }
        self.layout = layout; self.tokenCount = tokenCount; self.length = length
    }

    /// The sequences of epoch `epoch` in the order they are visited.
    public func epoch(_ epoch: Int, seed: UInt64) -> [ArraySlice<Int>] {
        switch layout {
        case .stream:
            return shuffled(Array(0..<windowCount), epoch: epoch, seed: seed).map(window)
        case .documents(let documents):
            var packed: [Int] = []
            packed.reserveCapacity(tokenCount)
            for d in shuffled(Array(documents.indices), epoch: epoch, seed: seed) { packed += documents[d] }
            return (0..<windowCount).map { packed[($0 * length)..<(($0 + 1) * length)] }
        }
    }

    /// Window `w` of a token stream, in stream order (not available for documents, which
    /// have no fixed windows).
    public func window(_ w: Int) -> ArraySlice<Int> {
        guard case .stream(let stream) = layout else { preconditionFailure("window(_:) needs a token stream") }
        return stream[(w * length)..<((w + 1) * length)]
    }

    private func shuffled(_ items: [Int], epoch: Int, seed: UInt64) -> [Int] {
        seededShuffle(items, seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(epoch))
    }
}

/// A Fisher–Yates shuffle, seeded.
private func seededShuffle(_ items: [Int], seed: UInt64) -> [Int] {
    var items = items
    var g = SeededGenerator(seed: seed)
    g.shuffle(&items)
    return items
}

/// The order of a corpus's documents in the training stream when some sources are
/// repeated (a data-mixture weight, as pretraining mixtures repeat small high-value
/// sources): every document once in corpus order, then, for each further round r,
/// the documents whose source is repeated more than r times, in a seeded shuffle.
/// `WindowedTokens(documents:)` reshuffles the whole list every epoch anyway; this order
/// fixes which index each copy has, and so the packing a given seed produces.
public func documentOrder(sources: [String?], repeats: [String: Int], seed: UInt64) throws -> [Int] {
    for (source, n) in repeats.sorted(by: { $0.key < $1.key }) {
        guard n >= 1 else { throw WorkbenchError("repeat count for source '\(source)' must be at least 1, got \(n)") }
        guard sources.contains(source) else { throw WorkbenchError("no document has source '\(source)'") }
    }
    var order = Array(sources.indices)
    let rounds = repeats.values.max() ?? 1
    for round in 1..<rounds {
        let extra = sources.indices.filter { i in sources[i].map { (repeats[$0] ?? 1) > round } ?? false }
        order += seededShuffle(extra, seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(round))
    }
    return order
}

/// One training run: the model's weights are updated in place, by the optimisation loop
/// with every weight trainable (`FullFineTune`).
public final class LanguageModelTrainer {
    public let model: TransformerModel
    public let options: TrainingOptions
    public let data: WindowedTokens
    public let loop: OptimizationLoop
    private let weights: FullFineTune
    private var epochSequences: [Int: [ArraySlice<Int>]] = [:]

    public var completedSteps: Int { loop.completedSteps }
    /// Mean loss per predicted token, learning rate and gradient norm of every step so far.
    public var history: [OptimizationLoop.StepReport] { loop.history }

    public struct StepReport: Sendable {
        public var step: Int
        public var loss: Double          // mean per predicted token
        public var learningRate: Float
        public var gradientNorm: Double  // before clipping
        public var tokens: Int
    }

    public init(model: TransformerModel, data: WindowedTokens, options: TrainingOptions) {
        self.model = model
        self.data = data
        self.options = options
        weights = FullFineTune(model: model)
        loop = OptimizationLoop(trainable: weights, optimizer: AdamW(weightDecay: options.weightDecay),
                                schedule: options.schedule, clipNorm: options.clipNorm)
    }

    func sequence(_ index: Int) -> [Int] {
        let epoch = index / data.windowCount
        if epochSequences[epoch] == nil {
            epochSequences = [epoch: data.epoch(epoch, seed: options.seed)]
        }
        return Array(epochSequences[epoch]![index % data.windowCount])
    }

    /// Runs the next optimisation step.
    public func step() throws -> StepReport {
        let s = loop.completedSteps
        let T = options.sequenceLength
        let predicted = (T - 1) * options.batchSize * options.accumulation
        let report = try loop.step(microBatches: options.accumulation) { micro in
            let first = (s * options.accumulation + micro) * options.batchSize
            var tokens: [Int] = []
            for j in 0..<options.batchSize { tokens += sequence(first + j) }
            let batch = TokenBatch(batchSize: options.batchSize, length: T, tokens: tokens)
            let record = ForwardRecord()
            let out = try model.forward(batch, logits: .all, record: record)
            let (loss, dLogits) = CrossEntropy.lossAndGradient(
                logits: out.logits!, labels: CrossEntropy.nextTokenLabels(batch), gradientScale: 1 / Float(predicted))
            var backward = BackwardOptions()
            weights.prepare(&backward)
            try model.backward(record, logitGradient: dLogits, options: backward)
            return loss / Double(predicted)
        }
        return StepReport(step: report.step, loss: report.loss, learningRate: report.learningRate,
                          gradientNorm: report.gradientNorm, tokens: options.batchSize * options.accumulation * T)
    }

    // MARK: checkpoints

    /// Saves weights, optimizer moments, the step count and the history under `directory`.
    public func saveCheckpoint(to directory: String) throws {
        try loop.saveCheckpoint(to: (directory as NSString).appendingPathComponent("checkpoint.safetensors"))
    }

    /// Restores a checkpoint written by `saveCheckpoint`; returns the step it reached.
    @discardableResult
    public func restoreCheckpoint(from directory: String) throws -> Int {
        try loop.restoreCheckpoint(from: (directory as NSString).appendingPathComponent("checkpoint.safetensors"))
        return loop.completedSteps
    }
}
