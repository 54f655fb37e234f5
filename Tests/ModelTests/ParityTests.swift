import Foundation
import Model
import XCTest

/// The acceptance test of the runtime: logits, residuals and greedy tokens equal
/// transformers' (fp32 reference, scripts/make_fixtures.py) on every fixture.
/// Tolerance: max |Δ| ≤ 1e-4 × max |reference| over real (unpadded) positions.
final class ParityTests: XCTestCase {
    static let relativeTolerance: Float = 1e-4

    func testLogitsAndResidualsMatchTransformers() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let ref = try Fixtures.reference(name)
            let ids = try ref.intValues("input_ids")
            let mask = try ref.intValues("attention_mask")
            let shape = try ref.info("input_ids").shape
            let (B, T) = (shape[0], shape[1])
            let batch = TokenBatch(batchSize: B, length: T, tokens: ids, isReal: mask.map { $0 != 0 })

            var positions: [Int] = []
            var hooks = ForwardHooks()
            hooks.residualReader = { index, view in if index == 0 { positions = view.layout.positions } }
            let out = try model.forward(batch, hooks: hooks, logits: .all, captureResiduals: true)
            let refPositions = try ref.intValues("position_ids")
            for r in 0..<(B * T) where batch.isReal[r] {
                XCTAssertEqual(positions[r], refPositions[r], "\(name): position of row \(r)")
            }

            let V = model.config.vocabSize, d = model.config.hiddenSize
            let realRows = (0..<(B * T)).filter { batch.isReal[$0] }
            let logitIdx = realRows.flatMap { r in (r * V)..<((r + 1) * V) }
            let refLogits = try ref.floatTensor("logits")
            let bound = Self.relativeTolerance * maxAbs(refLogits.data, indices: logitIdx)
            let dl = maxAbsDiff(out.logits!.data, refLogits.data, indices: logitIdx)
            XCTAssertLessThanOrEqual(dl, bound, "\(name): max |Δlogit| \(dl) exceeds \(bound)")

            let refResidual = try ref.floatTensor("residual")
            XCTAssertEqual(out.residuals.count, model.config.layerCount + 1)
            let resIdx = realRows.flatMap { r in (r * d)..<((r + 1) * d) }
            for (l, mine) in out.residuals.enumerated() {
                let theirs = refResidual.data + l * B * T * d
                let rb = Self.relativeTolerance * maxAbs(theirs, indices: resIdx)
                let dr = maxAbsDiff(mine.data, theirs, indices: resIdx)
                XCTAssertLessThanOrEqual(dr, rb, "\(name): residual \(l) max |Δ| \(dr) exceeds \(rb)")
            }
        }
    }

    func testCachedGreedyGenerationMatchesTransformers() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let ref = try Fixtures.reference(name)
            let shape = try ref.info("greedy_prompt").shape
            let ids = try ref.intValues("greedy_prompt")
            let mask = try ref.intValues("greedy_prompt_mask")
            let expected = try ref.intValues("greedy_tokens")
            let n = try ref.info("greedy_tokens").shape[1]
            let prompts = (0..<shape[0]).map { b in
                (0..<shape[1]).compactMap { t in mask[b * shape[1] + t] != 0 ? ids[b * shape[1] + t] : nil }
            }
            let result = try model.generate(prompts: prompts, options: GenerationOptions(maxNewTokens: n))
            for b in 0..<shape[0] {
                XCTAssertEqual(result.tokens[b], Array(expected[(b * n)..<((b + 1) * n)]), "\(name): greedy row \(b)")
            }
        }
    }

    func testCachedGenerationEqualsFullRecomputation() throws {
        let model = try Fixtures.model("llama_gqa_llama3rope")
        let prompts = [[5, 9, 13], [7, 1, 2, 200, 31, 4]]
        let n = 10
        let cached = try model.generate(prompts: prompts, options: GenerationOptions(maxNewTokens: n))
        for (b, prompt) in prompts.enumerated() {
            var seq = prompt
            for _ in 0..<n {
                let logits = try model.forward(TokenBatch(seq), logits: .last).logits!
                seq.append(TokenDistribution.argmax(logits.storage.buffer))
            }
            XCTAssertEqual(cached.tokens[b], Array(seq.dropFirst(prompt.count)), "row \(b)")
        }
        // Sampling is seeded and independent of the batch it runs in.
        let opts = GenerationOptions(maxNewTokens: n, sampling: SamplingOptions(temperature: 1, topK: 20, topP: 0.9), seed: 42)
        let a = try model.generate(prompts: prompts, options: opts)
        let b = try model.generate(prompts: prompts, options: opts)
        XCTAssertEqual(a.tokens, b.tokens)
        let other = try model.generate(prompts: prompts, options: GenerationOptions(maxNewTokens: n, sampling: opts.sampling, seed: 43))
        XCTAssertNotEqual(a.tokens, other.tokens, "a different seed should change sampled tokens")
    }

    /// A long prompt runs attention in blocks of query rows; feeding the same tokens
    /// one at a time through the cache must give the same logits at every position.
    func testBlockedPrefillEqualsTokenByTokenDecoding() throws {
        let model = try Fixtures.model("llama_headdim_mqa_bf16")
        let V = model.config.vocabSize
        var rng = SeededGenerator(seed: 5)
        let tokens = (0..<300).map { _ in Int(rng.next() % UInt64(V)) }
        let full = try model.forward(TokenBatch(tokens), logits: .all).logits!
        let cache = KVCache(config: model.config, batchSize: 1, capacity: tokens.count)
        var worst: Float = 0
        for (t, id) in tokens.enumerated() {
            let step = try model.forward(TokenBatch([id]), cache: cache, logits: .last).logits!
            for j in 0..<V { worst = max(worst, abs(step.data[j] - full.data[t * V + j])) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4 * maxAbs(full.data, indices: Array(0..<(tokens.count * V))))
    }

    func testPaddingDoesNotChangeResults() throws {
        let model = try Fixtures.model("qwen2_bias_tied_f16")
        let seq = [3, 17, 42, 99, 7]
        let alone = try model.forward(TokenBatch(seq), logits: .last).logits!
        let padded = try model.forward(TokenBatch.leftPadded([seq, [1, 2, 3, 4, 5, 6, 7, 8]]), logits: .last).logits!
        let V = model.config.vocabSize
        let diff = maxAbsDiff(alone.data, padded.data, indices: Array(0..<V))
        XCTAssertLessThanOrEqual(diff, 1e-4 * maxAbs(alone.data, indices: Array(0..<V)))
    }
}
