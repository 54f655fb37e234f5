import Foundation
import Model
import XCTest

/// Φ(x) = x + Bᵀ(A x + c): a low-rank residual edit with parameters A, B [r, d] and c [r],
/// Jacobian I + Bᵀ A (not the identity), so the backward pass must rewrite dh.
final class LowRankEdit: ResidualIntervention {
    let a: Parameter, b: Parameter, c: Parameter
    let selection: RowSelection
    let r: Int

    init(rank r: Int, width d: Int, seed: UInt64, selection: RowSelection) {
        var rng = SeededGenerator(seed: seed)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextGaussian() * 0.3 } }
        self.r = r
        a = Parameter(name: "A", value: Tensor(shape: [r, d], values: random(r * d)), decays: true)
        b = Parameter(name: "B", value: Tensor(shape: [r, d], values: random(r * d)), decays: true)
        c = Parameter(name: "c", value: Tensor(shape: [r], values: random(r)), decays: false)
        self.selection = selection
    }

    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        let (A, B, c) = (a.value.data, b.value.data, c.value.data)
        for row in 0..<rows.count {
            let xr = x + row * d, yr = y + row * d
            yr.update(from: xr, count: d)
            for k in 0..<r {
                var z = c[k]
                for i in 0..<d { z += A[k * d + i] * xr[i] }
                for i in 0..<d { yr[i] += B[k * d + i] * z }
            }
        }
    }

    func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        let (A, B, c) = (a.value.data, b.value.data, c.value.data)
        let (gA, gB, gc) = (a.gradient.mutableData, b.gradient.mutableData, self.c.gradient.mutableData)
        for row in 0..<rows.count {
            let xr = x + row * d, dyr = dy + row * d, dxr = dx + row * d
            dxr.update(from: dyr, count: d)
            for k in 0..<r {
                var z = c[k], u: Float = 0          // z = (A x + c)_k, u = (B dy)_k
                for i in 0..<d { z += A[k * d + i] * xr[i]; u += B[k * d + i] * dyr[i] }
                for i in 0..<d {
                    dxr[i] += A[k * d + i] * u
                    gA[k * d + i] += u * xr[i]
                    gB[k * d + i] += z * dyr[i]
                }
                gc[k] += u
            }
        }
    }
}

final class InterventionTests: XCTestCase {
    let tokens = [4, 8, 15, 16, 23, 42, 7, 3]

    func loss(_ m: TransformerModel, _ hooks: ForwardHooks, promptLength: Int) throws -> Double {
        let batch = TokenBatch(batchSize: 1, length: tokens.count, tokens: tokens, promptLengths: [promptLength])
        let logits = try m.forward(batch, hooks: hooks, logits: .all).logits!
        return CrossEntropy.lossAndGradient(logits: logits, labels: CrossEntropy.nextTokenLabels(batch)).loss
    }

    /// A backward pass with vectors after blocks 0 and 1 only skips block 0 (nothing below
    /// residual 1 needs a gradient); the vectors' gradients equal those of a pass forced through
    /// every block by a residual reader, and the reader's pass reaches the embedding output.
    func testBackwardStopsAtTheLowestHookWithTheSameGradients() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let d = m.config.hiddenSize
        let batch = TokenBatch(batchSize: 1, length: tokens.count, tokens: tokens, promptLengths: [5])
        func gradients(forceEveryBlock: Bool) throws -> (vectors: [[Float]], deepest: Int) {
            let vectors = (0..<2).map { Parameter(name: "s\($0)", value: Tensor(zeros: [d]), decays: false) }
            var hooks = ForwardHooks()
            hooks.add(VectorAddition(vectors[0]), at: 1)
            hooks.add(VectorAddition(vectors[1]), at: 2)
            let record = ForwardRecord()
            let logits = try m.forward(batch, hooks: hooks, logits: .all, record: record).logits!
            let (_, dLogits) = CrossEntropy.lossAndGradient(logits: logits, labels: CrossEntropy.nextTokenLabels(batch))
            var options = BackwardOptions()
            var deepest = Int.max
            if forceEveryBlock { options.residualGradientReader = { index, _ in deepest = min(deepest, index) } }
            try m.backward(record, logitGradient: dLogits, hooks: hooks, options: options)
            return (vectors.map(\.gradient.values), deepest)
        }
        let early = try gradients(forceEveryBlock: false), full = try gradients(forceEveryBlock: true)
        XCTAssertEqual(full.deepest, 0)
        XCTAssertEqual(early.vectors, full.vectors)
        XCTAssertGreaterThan(early.vectors[0].map(abs).max()!, 1e-5, "the lower vector gets a gradient")
    }

    /// Backward through two trainable interventions at once, one non-linear in h: every
    /// parameter's gradient matches central finite differences of the loss (h = 1e-2, within 2%
    /// of the gradient or 1e-3), which needs the edit above the steering vector to pass its
    /// Jacobian down, and a zero-initialised steering vector gets a non-zero gradient.
    func testFiniteDifferencesThroughTwoInterventions() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let d = m.config.hiddenSize
        let steering = Parameter(name: "s", value: Tensor(zeros: [d]), decays: false)
        let edit = LowRankEdit(rank: 2, width: d, seed: 11, selection: .lastPrompt(3))
        var hooks = ForwardHooks()
        hooks.add(VectorAddition(steering), at: 1)
        hooks.add(edit, at: 2)
        let promptLength = 5

        let batch = TokenBatch(batchSize: 1, length: tokens.count, tokens: tokens, promptLengths: [promptLength])
        let record = ForwardRecord()
        let logits = try m.forward(batch, hooks: hooks, logits: .all, record: record).logits!
        let (_, dLogits) = CrossEntropy.lossAndGradient(logits: logits, labels: CrossEntropy.nextTokenLabels(batch))
        try m.backward(record, logitGradient: dLogits, hooks: hooks)
        XCTAssertGreaterThan(steering.gradient.values.map(abs).max()!, 1e-4, "a zero-initialised vector gets a gradient")

        for p in [steering, edit.a, edit.b, edit.c] {
            let g = p.gradient.values
            let order = g.indices.sorted { abs(g[$0]) > abs(g[$1]) }
            for i in order.prefix(2) {
                let saved = p.value.mutableData[i]
                let h: Float = 1e-2
                p.value.mutableData[i] = saved + h
                let up = try loss(m, hooks, promptLength: promptLength)
                p.value.mutableData[i] = saved - h
                let down = try loss(m, hooks, promptLength: promptLength)
                p.value.mutableData[i] = saved
                let numeric = (up - down) / Double(2 * h)
                XCTAssertEqual(Double(g[i]), numeric, accuracy: max(0.02 * abs(numeric), 1e-3), "\(p.name)[\(i)]")
            }
        }
    }

    /// A prompt-position intervention acts on the prompt's prefill only: cached generation
    /// and a full forward pass over prompt + generated tokens (with the prompt lengths given)
    /// pick the same tokens, with mixed prompt lengths in one left-padded batch.
    func testCachedGenerationMatchesFullRecomputation() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let d = m.config.hiddenSize
        let edit = LowRankEdit(rank: 2, width: d, seed: 5, selection: .lastPrompt(2))
        var hooks = ForwardHooks()
        hooks.add(edit, at: 1)
        let prompts = [[4, 8, 15, 16, 23], [42, 7, 3]]
        let generated = try m.generate(prompts: prompts, options: GenerationOptions(maxNewTokens: 5), hooks: hooks)
        var plain = ForwardHooks()
        plain.add(LowRankEdit(rank: 2, width: d, seed: 5, selection: .all), at: 1)
        let unrestricted = try m.generate(prompts: prompts, options: GenerationOptions(maxNewTokens: 5), hooks: plain)
        XCTAssertNotEqual(generated.tokens, unrestricted.tokens, "the selection must matter for this check to mean anything")
        for (prompt, new) in zip(prompts, generated.tokens) {
            let full = prompt + new.dropLast()
            let batch = TokenBatch(batchSize: 1, length: full.count, tokens: full, promptLengths: [prompt.count])
            let logits = try m.forward(batch, hooks: hooks, logits: .all).logits!
            let V = m.config.vocabSize
            let greedy = (prompt.count - 1..<full.count).map {
                TokenDistribution.argmax(UnsafeBufferPointer(start: logits.data + $0 * V, count: V))
            }
            XCTAssertEqual(greedy, new)
        }
    }

    /// Two weight deltas on one layer, each with its scale, act as their scaled sum, in the
    /// forward pass and in the input gradients of the backward pass.
    func testStackedWeightDeltasEqualTheirSum() throws {
        let m = try Fixtures.model("llama_sharded")
        let id = LinearID(layer: 0, site: .up)
        let lw = m.weights.blocks[0].up
        let (out, inF, r) = (lw.outFeatures, lw.inFeatures, 2)
        var rng = SeededGenerator(seed: 9)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextUnitFloat() - 0.5 } }
        let dense = random(out * inF)
        let a = Tensor(shape: [r, inF], values: random(r * inF)), b = Tensor(shape: [out, r], values: random(out * r))
        var sum = dense.map { 0.5 * $0 }
        for i in 0..<out { for j in 0..<inF { for k in 0..<r { sum[i * inF + j] += 2 * b.values[i * r + k] * a.values[k * inF + j] } } }

        var stacked = ForwardHooks()
        stacked.add(DenseWeightDelta(Tensor(shape: [out, inF], values: dense)), to: id, scale: 0.5)
        stacked.add(LowRankWeightDelta(a: a, b: b), to: id, scale: 2)
        var single = ForwardHooks()
        single.add(DenseWeightDelta(Tensor(shape: [out, inF], values: sum)), to: id)

        func run(_ hooks: ForwardHooks) throws -> (logits: [Float], embeddingGradient: [Float]) {
            let batch = TokenBatch(tokens)
            let record = ForwardRecord()
            let logits = try m.forward(batch, hooks: hooks, logits: .all, record: record).logits!
            let (_, dLogits) = CrossEntropy.lossAndGradient(logits: logits, labels: CrossEntropy.nextTokenLabels(batch))
            var h0: [Float] = []
            var options = BackwardOptions()
            options.residualGradientReader = { index, view in if index == 0 { h0 = view.tensor().values } }
            try m.backward(record, logitGradient: dLogits, hooks: hooks, options: options)
            return (logits.values, h0)
        }
        let (x, y) = (try run(stacked), try run(single))
        let scale = max(1, y.logits.map(abs).max()!)
        XCTAssertLessThan(zip(x.logits, y.logits).map { abs($0 - $1) }.max()!, 1e-4 * scale)
        let gScale = max(1e-6, y.embeddingGradient.map(abs).max()!)
        XCTAssertLessThan(zip(x.embeddingGradient, y.embeddingGradient).map { abs($0 - $1) }.max()!, 1e-4 * gScale)
    }

    func testCustomEditsAreForwardOnly() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        var hooks = ForwardHooks()
        hooks.add(.custom({ h, layout in h[0] += 1 }), at: 1)
        let batch = TokenBatch(tokens)
        let record = ForwardRecord()
        let logits = try m.forward(batch, hooks: hooks, logits: .all, record: record).logits!
        let (_, dLogits) = CrossEntropy.lossAndGradient(logits: logits, labels: CrossEntropy.nextTokenLabels(batch))
        XCTAssertThrowsError(try m.backward(record, logitGradient: dLogits, hooks: hooks)) {
            XCTAssertTrue("\($0)".contains("forward-only"), "\($0)")
        }
    }

    func testRowSelectionFollowsPositionsAndPromptLengths() {
        // Two sequences, left-padded to 5: lengths 5 (prompt 3) and 3 (prompt 2).
        let layout = RowLayout(batchSize: 2, length: 5, isReal: [true, true, true, true, true, false, false, true, true, true],
                               positions: [0, 1, 2, 3, 4, 0, 0, 0, 1, 2], promptLengths: [3, 2])
        XCTAssertEqual(RowSelection.all.rows(in: layout), [0, 1, 2, 3, 4, 7, 8, 9])
        XCTAssertEqual(RowSelection.firstPrompt(2).rows(in: layout), [0, 1, 7, 8])
        XCTAssertEqual(RowSelection.lastPrompt(1).rows(in: layout), [2, 8])
        XCTAssertEqual(RowSelection.lastPrompt(9).rows(in: layout), [0, 1, 2, 7, 8])
        XCTAssertEqual(RowSelection.positions([2, 4]).rows(in: layout), [2, 4, 9])
        // A decode step (positions past the prompt) selects no prompt position.
        let step = RowLayout(batchSize: 2, length: 1, isReal: [true, true], positions: [5, 3], promptLengths: [3, 2])
        XCTAssertEqual(RowSelection.lastPrompt(2).rows(in: step), [])
        XCTAssertEqual(RowSelection.all.rows(in: step), [0, 1])
    }
}
