import Corpus
import Foundation
import Model
import Tokenizers

/// How completions are sampled.
public struct SamplingSettings: Sendable, Codable, Equatable {
    public var maxNewTokens = 64
    public var temperature: Float = 1
    public var topP: Float = 1
    public var topK = 0
    /// Sequences generated together (one KV cache): larger batches read the weights once for
    /// more tokens per decode step.
    public var batchSize = 128
    public init() {}

    public var sampling: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP) }
}

/// One sampled completion of a problem with its reward.
public struct Rollout: Sendable {
    /// Index of the problem in the problem list, and of the sample within its group.
    public var problem: Int
    public var sample: Int
    public var prompt: [Int]
    public var completion: [Int]
    public var text: String
    /// Ended by reaching the token limit rather than a stop token.
    public var truncated: Bool
    public var reward: Double
    public var correct: Bool
    /// log π of each completion token in the sampling pass.
    public var samplingLogProbabilities: [Float]
}

/// Sampling of groups of completions: every sequence draws from its own generator seeded by
/// (seed, key, problem, sample), where the key is the problem's position in the training
/// stream (or a fixed key for evaluation), so a step's samples do not depend on batch order,
/// batch size or thread count.
public struct RolloutSampler {
    public let model: TransformerModel
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let rewards: [any Reward]
    public let settings: SamplingSettings

    public init(model: TransformerModel, tokenizer: Tokenizer, template: PromptTemplate, rewards: [any Reward],
                settings: SamplingSettings) {
        self.model = model; self.tokenizer = tokenizer; self.template = template; self.rewards = rewards; self.settings = settings
    }

    public static func seed(_ seed: UInt64, key: Int, problem: Int, sample: Int) -> UInt64 {
        var h = seed &+ 0x9E37_79B9_7F4A_7C15
        for part in [key, problem, sample].map({ UInt64(bitPattern: Int64($0)) }) {
            h = (h ^ part) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        return h
    }

    public func prompt(_ problem: Query) -> [Int] { tokenizer.encode(template.render(problem.prompt)) }

    /// `samples` completions of each listed problem (`problems[i]` for i in `indices`, with
    /// seed key `keys[n]`, or −1 for all), in problem-then-sample order, sampled with `hooks`.
    /// Each distinct prompt is prefilled once (`GenerationOptions.sharePromptPrefill`): the
    /// hooks must treat a row by its token and position, as trainables do.
    public func sample(_ problems: [Query], indices: [Int], keys: [Int]? = nil, samples: Int, hooks: ForwardHooks,
                       seed: UInt64, sampling: SamplingOptions? = nil) throws -> [Rollout] {
        var jobs: [(problem: Int, sample: Int, key: Int, prompt: [Int])] = []
        for (n, i) in indices.enumerated() {
            let p = prompt(problems[i])
            for j in 0..<samples { jobs.append((i, j, keys?[n] ?? -1, p)) }
        }
        var out: [Rollout] = []
        let stop = Set(model.config.eosTokenIds)
        for start in stride(from: 0, to: jobs.count, by: max(1, settings.batchSize)) {
            let chunk = Array(jobs[start..<min(jobs.count, start + max(1, settings.batchSize))])
            var options = GenerationOptions(maxNewTokens: settings.maxNewTokens, sampling: sampling ?? settings.sampling,
                                            stopTokens: stop,
                                            sequenceSeeds: chunk.map { Self.seed(seed, key: $0.key, problem: $0.problem, sample: $0.sample) },
                                            returnLogProbabilities: true)
            options.sharePromptPrefill = true   // a group's samples share their prompt's prefill
            let result = try model.generate(prompts: chunk.map(\.prompt), options: options, hooks: hooks)
            for (k, job) in chunk.enumerated() {
                let text = tokenizer.decode(result.tokens[k], skipSpecialTokens: true)
                let reward = rewards.reduce(0) { $0 + $1.score(completion: text, problem: problems[job.problem]) }
                out.append(Rollout(problem: job.problem, sample: job.sample, prompt: job.prompt, completion: result.tokens[k],
                                   text: text, truncated: !result.stopped[k], reward: reward,
                                   correct: ExactAnswerReward.isCorrect(completion: text, answer: problems[job.problem].answer ?? ""),
                                   samplingLogProbabilities: result.logProbabilities[k]))
            }
        }
        return out
    }
}
