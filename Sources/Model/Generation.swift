import Foundation

public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    public var seed: UInt64
    /// Generation of a sequence stops after it emits one of these (its EOS ids).
    public var stopTokens: Set<Int>
    /// One seed per prompt, overriding (seed, b): a sequence's tokens then depend only on
    /// its own seed, wherever it sits in the batch (RL rollouts).
    public var sequenceSeeds: [UInt64]?
    /// Also return log π(token) of every generated token under the untempered logits.
    public var returnLogProbabilities: Bool

    public init(maxNewTokens: Int, sampling: SamplingOptions = .greedy, seed: UInt64 = 0, stopTokens: Set<Int> = [],
                sequenceSeeds: [UInt64]? = nil, returnLogProbabilities: Bool = false) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.seed = seed
        self.stopTokens = stopTokens
        self.sequenceSeeds = sequenceSeeds
        self.returnLogProbabilities = returnLogProbabilities
    }
}

public struct GenerationResult: Sendable {
    /// New tokens per sequence, the stop token included when one ended it.
    public var tokens: [[Int]]
    /// Whether each sequence ended on a stop token (else it reached maxNewTokens).
    public var stopped: [Bool]
    /// With `returnLogProbabilities`: log π of each new token, aligned with `tokens`.
    public var logProbabilities: [[Float]] = []
}

extension TransformerModel {
    /// Batched generation with a KV cache: the prompts are left-padded and run in
    /// one prefill, then every step feeds each unfinished sequence its last token.
    /// Sequence b draws from its own generator seeded with (seed, b), or with its own seed
    /// from `sequenceSeeds`, so results do not depend on thread count, and with sequence seeds
    /// not on the sequence's place in the batch either. `hooks` apply to
    /// every forward pass, prompt and generated tokens alike.
    public func generate(prompts: [[Int]], options: GenerationOptions, hooks: ForwardHooks = ForwardHooks(),
                         progress: ((Int) -> Void)? = nil) throws -> GenerationResult {
        try options.sampling.validate()
        guard !prompts.isEmpty else { return GenerationResult(tokens: [], stopped: []) }
        guard options.maxNewTokens >= 0 else { throw WorkbenchError("max new tokens must be ≥ 0") }
        for (i, p) in prompts.enumerated() where p.isEmpty {
            throw WorkbenchError("prompt \(i) is empty: generation needs at least one token")
        }
        let B = prompts.count
        let batch = TokenBatch.leftPadded(prompts)
        let cache = KVCache(config: config, batchSize: B, capacity: batch.length + options.maxNewTokens)
        if let seeds = options.sequenceSeeds, seeds.count != B {
            throw WorkbenchError("\(seeds.count) sequence seeds for \(B) prompts")
        }
        var rngs = (0..<B).map { SeededGenerator(seed: options.sequenceSeeds?[$0] ?? (options.seed &* 0x9E37_79B9 &+ UInt64($0) &+ 1)) }
        var logProbabilities = [[Float]](repeating: [], count: options.returnLogProbabilities ? B : 0)
        var out = [[Int]](repeating: [], count: B)
        var done = [Bool](repeating: false, count: B)
        var stopped = [Bool](repeating: false, count: B)
        if options.maxNewTokens == 0 { return GenerationResult(tokens: out, stopped: stopped, logProbabilities: logProbabilities) }

        var logits = try forward(batch, hooks: hooks, cache: cache, logits: .last).logits!
        for step in 0..<options.maxNewTokens {
            let V = config.vocabSize
            var next = [Int](repeating: 0, count: B)
            let lp = logits.data
            // Each sequence samples independently: split the batch across cores.
            rngs.withUnsafeMutableBufferPointer { rngBuf in
                next.withUnsafeMutableBufferPointer { nextBuf in
                    Parallel.forEachChunk(B, costPerItem: V * 4) { range in
                        for b in range where !done[b] {
                            nextBuf[b] = TokenDistribution.sample(UnsafeBufferPointer(start: lp + b * V, count: V),
                                                        options: options.sampling, rng: &rngBuf[b])
                        }
                    }
                }
            }
            for b in 0..<B where !done[b] {
                out[b].append(next[b])
                if options.returnLogProbabilities {
                    let st = TokenDistribution.statistics(lp + b * V, count: V)
                    logProbabilities[b].append(Float(st.logProbability(ofLogit: lp[b * V + next[b]])))
                }
                if options.stopTokens.contains(next[b]) { done[b] = true; stopped[b] = true }
            }
            progress?(step + 1)
            if step + 1 == options.maxNewTokens || done.allSatisfy({ $0 }) { break }
            let stepBatch = TokenBatch(batchSize: B, length: 1, tokens: next, isReal: done.map { !$0 })
            logits = try forward(stepBatch, hooks: hooks, cache: cache, logits: .last).logits!
        }
        return GenerationResult(tokens: out, stopped: stopped, logProbabilities: logProbabilities)
    }
}
