import Cluster
import Corpus
import Foundation
import Model
import Tokenizers

/// Settings of an RL run (methods.md §1; the defaults are the published steering code's).
public struct RLSettings: Sendable, Codable, Equatable {
    public var steps = 100
    public var promptsPerStep = 16
    /// Samples per prompt (G).
    public var groupSize = 16
    public var learningRate: Float = 1e-3
    /// Linear warm-up over this fraction of the steps, then constant.
    public var warmupFraction: Float = 0.03
    public var weightDecay: Float = 0
    /// Global gradient-norm clip (0 = off).
    public var clipNorm: Float = 2
    /// Optimisation passes over each step's rollouts (ratios ≠ 1 from the second on).
    public var iterations = 1
    public var sampling = SamplingSettings()
    /// Sequences per forward/backward pass in training.
    public var microBatchSize = 16
    /// DAPO's dynamic sampling: groups whose rewards are all equal carry no signal; skip them
    /// and draw further prompts, up to 4 × promptsPerStep per step.
    public var skipZeroSpread = false
    public var seed: UInt64 = 0
    /// Run the training pass over the sequences whose advantage is 0 as well, which with β = 0
    /// add nothing (`PolicyObjective.zeroAdvantageCarriesNoGradient`): the same update at more
    /// cost, for comparing a step's cost with trainers that compute them. A choice of how to
    /// compute, not of what: config.json does not record it.
    public var trainZeroAdvantages = false
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, promptsPerStep, groupSize, learningRate, warmupFraction, weightDecay, clipNorm, iterations, sampling,
             microBatchSize, skipZeroSpread, seed
    }

    /// Constant after the warm-up; counted in optimiser updates (steps × iterations).
    public var schedule: LearningRateSchedule {
        .constant(learningRate, warmup: Int((warmupFraction * Float(steps)).rounded(.up)) * iterations)
    }
}

/// What one step did (one line in the log, one row of training.h5).
public struct StepMetrics: Sendable, Codable, Equatable {
    public var step = 0
    public var loss = 0.0
    public var rewardMean = 0.0
    public var rewardStd = 0.0
    /// Fraction of sampled completions whose answer is correct.
    public var accuracy = 0.0
    /// Fraction of the step's groups whose rewards were all equal (no signal).
    public var zeroSpreadFraction = 0.0
    public var completionMean = 0.0
    public var completionMin = 0.0
    public var completionMax = 0.0
    public var truncatedFraction = 0.0
    public var entropy = 0.0
    public var kl = 0.0
    public var clippedFraction = 0.0
    public var gradientNorm = 0.0
    public var learningRate = 0.0
    public var rolloutSeconds = 0.0
    public var trainingSeconds = 0.0
    /// Sampled tokens per second of rollout time.
    public var rolloutTokensPerSecond = 0.0
    /// Prompt + completion tokens per second of training time.
    public var trainingTokensPerSecond = 0.0

    /// The metric names, in the order of `values` (training.h5's dataset names).
    public static let names = ["loss", "reward_mean", "reward_std", "accuracy", "zero_spread_fraction", "completion_mean",
                               "completion_min", "completion_max", "truncated_fraction", "entropy", "kl", "clipped_fraction",
                               "gradient_norm", "learning_rate", "rollout_seconds", "training_seconds",
                               "rollout_tokens_per_second", "training_tokens_per_second"]
    public var values: [Double] {
        [loss, rewardMean, rewardStd, accuracy, zeroSpreadFraction, completionMean, completionMin, completionMax,
         truncatedFraction, entropy, kl, clippedFraction, gradientNorm, learningRate, rolloutSeconds, trainingSeconds,
         rolloutTokensPerSecond, trainingTokensPerSecond]
    }
    public init() {}
    public init(step: Int, values v: [Double]) {
        self.step = step
        (loss, rewardMean, rewardStd, accuracy, zeroSpreadFraction) = (v[0], v[1], v[2], v[3], v[4])
        (completionMean, completionMin, completionMax, truncatedFraction, entropy) = (v[5], v[6], v[7], v[8], v[9])
        (kl, clippedFraction, gradientNorm, learningRate, rolloutSeconds) = (v[10], v[11], v[12], v[13], v[14])
        (trainingSeconds, rolloutTokensPerSecond, trainingTokensPerSecond) = (v[15], v[16], v[17])
    }
}

/// Online RL for any `Trainable` (steering vectors, full fine-tuning, adapters): each step
/// samples groups of completions with the trainable attached, scores them, turns rewards
/// into advantages and per-token coefficients (`PolicyObjective`), and takes optimiser steps
/// through the one `OptimizationLoop`. Every random draw is a function of (seed, step,
/// problem, sample), so a resumed run is bit-identical to an uninterrupted one. Under MPI
/// each rank samples a contiguous share of the step's prompts and trains on a share of its
/// micro-batches; every rank ends the step with the same parameters, equal to one process's
/// (docs/scaling.md).
public final class RLTrainer: StepTrainer {
    public let model: TransformerModel
    public let trainable: any Trainable
    public let objective: PolicyObjective
    public let problems: [Query]
    public let settings: RLSettings
    public let sampler: RolloutSampler
    /// π_ref for the KL term: the same model without hooks, or a frozen copy for full fine-tuning.
    public let referenceModel: TransformerModel?
    public let loop: OptimizationLoop
    public var history: [StepMetrics] = []
    /// Next position in the stream of problem indices (epochs of seeded permutations).
    public var cursor = 0
    /// The ranks sharing each step's rollouts and micro-batches (one process without mpirun).
    public let group: ProcessGroup

    public init(model: TransformerModel, tokenizer: Tokenizer, trainable: any Trainable, objective: PolicyObjective,
                rewards: [any Reward], problems: [Query], template: PromptTemplate, settings: RLSettings,
                referenceModel: TransformerModel? = nil, group: ProcessGroup = .single) throws {
        guard !problems.isEmpty else { throw WorkbenchError("no training problems") }
        guard settings.groupSize >= 2 else { throw WorkbenchError("--group must be at least 2 (advantages compare samples of one prompt)") }
        guard settings.promptsPerStep >= 1, settings.steps >= 1, settings.iterations >= 1 else {
            throw WorkbenchError("--prompts-per-step, --steps and --iterations must be at least 1")
        }
        self.model = model
        self.trainable = trainable
        self.objective = objective
        self.problems = problems
        self.settings = settings
        self.referenceModel = referenceModel
        self.group = group
        sampler = RolloutSampler(model: model, tokenizer: tokenizer, template: template, rewards: rewards, settings: settings.sampling)
        loop = OptimizationLoop(trainable: trainable, optimizer: AdamW(weightDecay: settings.weightDecay),
                                schedule: settings.schedule, clipNorm: settings.clipNorm)
    }

    func problemIndex(_ position: Int) -> Int { streamIndex(position, count: problems.count, seed: settings.seed) }

    /// One RL step: rollouts, rewards, advantages, `iterations` optimiser updates.
    @discardableResult
    public func step() throws -> StepMetrics {
        let s = completedSteps
        let clock = ContinuousClock()
        let rolloutStart = clock.now
        let G = settings.groupSize, P = settings.promptsPerStep
        let hooks = hooks()
        var groups: [[Rollout]] = []
        var drawnGroups = 0, zeroSpread = 0, sampled: [Rollout] = []
        let limit = settings.skipZeroSpread ? 4 * P : P
        while groups.count < P && drawnGroups < limit {
            let want = settings.skipZeroSpread ? min(P - groups.count, limit - drawnGroups) : P
            let indices = (0..<want).map { problemIndex(cursor + $0) }
            let positions = (0..<want).map { cursor + $0 }
            cursor += want
            drawnGroups += want
            // Seeds use the stream position, so the same problem met in two epochs draws anew.
            let rollouts = try sampleShared(indices: indices, positions: positions, hooks: hooks)
            sampled += rollouts
            for g in stride(from: 0, to: rollouts.count, by: G) {
                let group = Array(rollouts[g..<(g + G)])
                let spread = Set(group.map(\.reward)).count > 1
                if !spread { zeroSpread += 1 }
                if spread || !settings.skipZeroSpread { groups.append(group) }
            }
        }
        let rolloutSeconds = (clock.now - rolloutStart).seconds
        let rollouts = groups.flatMap { $0 }
        var metrics = StepMetrics()
        metrics.step = s + 1
        let rewards = sampled.map(\.reward), lengths = sampled.map { Double($0.completion.count) }
        metrics.rewardMean = rewards.reduce(0, +) / Double(max(1, rewards.count))
        metrics.rewardStd = PolicyObjective.standardDeviation(rewards)
        metrics.accuracy = Double(sampled.filter(\.correct).count) / Double(max(1, sampled.count))
        metrics.zeroSpreadFraction = Double(zeroSpread) / Double(max(1, drawnGroups))
        metrics.completionMean = lengths.reduce(0, +) / Double(max(1, lengths.count))
        metrics.completionMin = lengths.min() ?? 0
        metrics.completionMax = lengths.max() ?? 0
        metrics.truncatedFraction = Double(sampled.filter(\.truncated).count) / Double(max(1, sampled.count))
        metrics.rolloutSeconds = rolloutSeconds
        metrics.rolloutTokensPerSecond = lengths.reduce(0, +) / max(rolloutSeconds, 1e-9)

        let trainingStart = clock.now
        var batch = RolloutBatch(prompts: rollouts.map(\.prompt), completions: rollouts.map(\.completion),
                                 advantages: objective.advantages(rewards: rollouts.map(\.reward), groupSize: G))
        // Sequences whose advantage is 0 (every group with equal rewards) add exactly nothing when
        // β = 0: they are not computed, and the update is the one over all sequences up to float
        // rounding (`PolicyObjective.zeroAdvantageCarriesNoGradient`).
        if objective.zeroAdvantageCarriesNoGradient && !settings.trainZeroAdvantages {
            batch = batch.keeping(batch.advantages.indices.filter { batch.advantages[$0] != 0 })
        }
        if batch.count == 0 {
            // Every group was flat: no signal. The step still takes its `iterations` updates with a
            // zero gradient (AdamW's momentum moves on, as in TRL), so the schedule stays in step.
            for _ in 0..<settings.iterations { metrics.learningRate = Double(try loop.step { _ in 0 }.learningRate) }
        } else {
            for iteration in 0..<settings.iterations {
                var report: PolicyGradientReport!
                let r = try loop.step { _ in
                    report = try PolicyGradient.accumulate(model: model, trainable: trainable, referenceModel: referenceModel,
                                                           batch: batch, objective: objective,
                                                           microBatchSize: settings.microBatchSize,
                                                           maxCompletionLength: settings.sampling.maxNewTokens, group: group)
                    return report.loss
                }
                if iteration == 0 {
                    batch.oldLogProbabilities = report.logProbabilities
                    metrics.loss = report.loss
                    metrics.entropy = report.meanEntropy
                    metrics.kl = report.meanKL
                    metrics.gradientNorm = r.gradientNorm
                    metrics.learningRate = Double(r.learningRate)
                }
                metrics.clippedFraction = max(metrics.clippedFraction, report.clippedFraction)
            }
            let tokens = (batch.prompts.reduce(0) { $0 + $1.count } + batch.completionLengths.reduce(0, +)) * settings.iterations
            metrics.trainingSeconds = (clock.now - trainingStart).seconds
            metrics.trainingTokensPerSecond = Double(tokens) / max(metrics.trainingSeconds, 1e-9)
        }
        if batch.count == 0 { metrics.trainingSeconds = (clock.now - trainingStart).seconds }
        history.append(metrics)
        return metrics
    }

    /// The groups of completions of the listed problems. Under MPI rank r samples the r-th
    /// contiguous share of the problems and every rank receives all groups in problem order;
    /// each sequence's seed depends on (seed, position, problem, sample) alone, so the union
    /// is the one-process draw.
    func sampleShared(indices: [Int], positions: [Int], hooks: ForwardHooks) throws -> [Rollout] {
        let share = group.share(of: indices.count)
        let mine = try sampler.sample(problems, indices: Array(indices[share]), keys: Array(positions[share]),
                                      samples: settings.groupSize, hooks: hooks, seed: settings.seed)
        guard group.isDistributed else { return mine }
        var message = MessageWriter()
        message.append(Int64(mine.count))
        for rollout in mine { rollout.write(to: &message) }
        return try group.allGather(message.data).flatMap { data -> [Rollout] in
            var reader = MessageReader(data)
            return try (0..<Int(try reader.read(Int64.self))).map { _ in try Rollout(from: &reader) }
        }
    }
}

extension Rollout {
    func write(to message: inout MessageWriter) {
        message.append(Int64(problem)); message.append(Int64(sample))
        message.append(prompt.map(Int64.init)); message.append(completion.map(Int64.init))
        message.append(text); message.append(truncated); message.append(reward); message.append(correct)
        message.append(samplingLogProbabilities)
    }

    init(from message: inout MessageReader) throws {
        self.init(problem: Int(try message.read(Int64.self)), sample: Int(try message.read(Int64.self)),
                  prompt: try message.readArray(Int64.self).map(Int.init), completion: try message.readArray(Int64.self).map(Int.init),
                  text: try message.readString(), truncated: try message.read(), reward: try message.read(), correct: try message.read(),
                  samplingLogProbabilities: try message.readArray())
    }
}
