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
    /// Run each distinct prompt through the prefill once and copy its keys and values to
    /// every sequence that starts with it (RL groups: one prompt, several samples). Only for
    /// hooks that treat a row by its token and position, never by its place in the batch;
    /// the prefill's hook calls then see the distinct prompts only.
    public var sharePromptPrefill = false

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
        let capacity = batch.length + options.maxNewTokens
        if let seeds = options.sequenceSeeds, seeds.count != B {
            throw WorkbenchError("\(seeds.count) sequence seeds for \(B) prompts")
        }
        var rngs = (0..<B).map { SeededGenerator(seed: options.sequenceSeeds?[$0] ?? (options.seed &* 0x9E37_79B9 &+ UInt64($0) &+ 1)) }
        var logProbabilities = [[Float]](repeating: [], count: options.returnLogProbabilities ? B : 0)
        var out = [[Int]](repeating: [], count: B)
        var done = [Bool](repeating: false, count: B)
        var stopped = [Bool](repeating: false, count: B)
        if options.maxNewTokens == 0 { return GenerationResult(tokens: out, stopped: stopped, logProbabilities: logProbabilities) }

        var (logits, cache) = try prefill(prompts, batch: batch, capacity: capacity, hooks: hooks,
                                          share: options.sharePromptPrefill)
        // Row r of the cache and of `logits` holds sequence active[r]. Finished sequences are
        // dropped from the cache once they are an eighth of its rows (or 4), so later steps do
        // not compute them; every row's numbers are independent of the others'.
        var active = Array(0..<B)
        for step in 0..<options.maxNewTokens {
            let V = config.vocabSize
            var next = [Int](repeating: 0, count: B)
            let lp = logits.data
            // Each sequence samples independently: split the batch across cores.
            rngs.withUnsafeMutableBufferPointer { rngBuf in
                next.withUnsafeMutableBufferPointer { nextBuf in
                    Parallel.forEachChunk(active.count, costPerItem: V * 4) { range in
                        for r in range where !done[active[r]] {
                            let b = active[r]
                            nextBuf[b] = TokenDistribution.sample(UnsafeBufferPointer(start: lp + r * V, count: V),
                                                                  options: options.sampling, rng: &rngBuf[b])
                        }
                    }
                }
            }
            for (r, b) in active.enumerated() where !done[b] {
                out[b].append(next[b])
                if options.returnLogProbabilities {
                    let st = TokenDistribution.statistics(lp + r * V, count: V)
                    logProbabilities[b].append(Float(st.logProbability(ofLogit: lp[r * V + next[b]])))
                }
                if options.stopTokens.contains(next[b]) { done[b] = true; stopped[b] = true }
            }
            progress?(step + 1)
            if step + 1 == options.maxNewTokens || done.allSatisfy({ $0 }) { break }
            let finishedRows = active.indices.filter { done[active[$0]] }
            if finishedRows.count >= max(4, active.count / 8) {
                let keep = active.indices.filter { !done[active[$0]] }
                cache.compact(keeping: keep)
                active = keep.map { active[$0] }
            }
            let stepBatch = TokenBatch(batchSize: active.count, length: 1, tokens: active.map { next[$0] },
                                       isReal: active.map { !done[$0] })
            logits = try forward(stepBatch, hooks: hooks, cache: cache, logits: .last).logits!
        }
        return GenerationResult(tokens: out, stopped: stopped, logProbabilities: logProbabilities)
    }

    /// The prompts' pass: the last position's logits [B, V] and the cache holding every prompt.
    /// With `share`, each distinct prompt runs once and its keys and values are copied to its
    /// sequences (`GenerationOptions.sharePromptPrefill`).
    private func prefill(_ prompts: [[Int]], batch: TokenBatch, capacity: Int, hooks: ForwardHooks,
                         share: Bool) throws -> (Tensor, KVCache) {
        var distinct: [[Int]] = [], source: [Int] = [], index: [[Int]: Int] = [:]
        for p in prompts where share {
            if index[p] == nil { index[p] = distinct.count; distinct.append(p) }
            source.append(index[p]!)
        }
        guard share && distinct.count < prompts.count else {
            let cache = KVCache(config: config, batchSize: prompts.count, capacity: capacity)
            return (try forward(batch, hooks: hooks, cache: cache, logits: .last).logits!, cache)
        }
        // The distinct prompts pad to the batch's length: the longest prompt is among them.
        let shared = KVCache(config: config, batchSize: distinct.count, capacity: capacity)
        let distinctLogits = try forward(TokenBatch.leftPadded(distinct), hooks: hooks, cache: shared, logits: .last).logits!
        let V = config.vocabSize
        let logits = Tensor(zeros: [prompts.count, V])
        for (b, s) in source.enumerated() {
            (logits.mutableData + b * V).update(from: distinctLogits.data + s * V, count: V)
        }
        return (logits, shared.replicated(source))
    }
}
