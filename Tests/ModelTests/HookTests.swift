import Foundation
import Model
import XCTest

/// The hook points: residual read/add/replace, linear taps, and weight deltas.
final class HookTests: XCTestCase {
    let tokens = [4, 8, 15, 16, 23, 42]

    func logits(_ m: TransformerModel, _ hooks: ForwardHooks = ForwardHooks()) throws -> [Float] {
        try m.forward(TokenBatch(tokens), hooks: hooks, logits: .all).logits!.values
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let scale = max(1, b.map(abs).max() ?? 1)
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(diff, tol * scale, file: file, line: line)
    }

    func testResidualReadAddReplace() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let d = m.config.hiddenSize, L = m.config.layerCount
        let base = try m.forward(TokenBatch(tokens), logits: .all, captureResiduals: true)

        // Read: the reader sees exactly the captured residuals.
        var seen: [Int: [Float]] = [:]
        var hooks = ForwardHooks()
        hooks.residualReader = { i, view in seen[i] = view.tensor().values }
        _ = try m.forward(TokenBatch(tokens), hooks: hooks, logits: .none)
        XCTAssertEqual(seen.count, L + 1)
        for i in 0...L { XCTAssertEqual(seen[i]!, base.residuals[i].values) }

        // Replacing h_L with itself changes nothing; the last layer reproduces the logits.
        var same = ForwardHooks()
        same.add(.replace(base.residuals[L]), at: L)
        XCTAssertEqual(try logits(m, same), base.logits!.values)

        // Adding v at every row of h_1 equals adding the broadcast tensor, and changes the output.
        let v = (0..<d).map { Float(sin(Double($0))) * 0.5 }
        var addVec = ForwardHooks()
        addVec.add(.addVector(v), at: 1)
        let broadcast = Tensor(shape: [1, tokens.count, d], values: Array((0..<tokens.count).map { _ in v }.joined()))
        var addTensor = ForwardHooks()
        addTensor.add(.add(broadcast), at: 1)
        let a = try logits(m, addVec)
        assertClose(a, try logits(m, addTensor), 1e-6)
        XCTAssertGreaterThan(zip(a, base.logits!.values).map { abs($0 - $1) }.max()!, 1e-3)

        // Replacing h_1 with (h_1 + v) equals adding v.
        let edited = Tensor(shape: [1, tokens.count, d], values: zip(base.residuals[1].values, broadcast.values).map { $0 + $1 })
        var replace = ForwardHooks()
        replace.add(.replace(edited), at: 1)
        assertClose(try logits(m, replace), a, 1e-6)
    }

    func testLinearTapSeesEachLayersInput() throws {
        let m = try Fixtures.model("qwen2_bias_tied_f16")
        var inputs: [LinearID: [Float]] = [:]
        var hooks = ForwardHooks()
        hooks.linearTap = { id, view in inputs[id] = view.tensor().values }
        let out = try m.forward(TokenBatch(tokens), hooks: hooks, logits: .none, captureResiduals: true)
        XCTAssertEqual(inputs.count, m.config.layerCount * LinearSite.allCases.count)
        // q, k, v share the normed input; gate and up share theirs.
        XCTAssertEqual(inputs[LinearID(layer: 0, site: .q)], inputs[LinearID(layer: 0, site: .k)])
        XCTAssertEqual(inputs[LinearID(layer: 1, site: .gate)], inputs[LinearID(layer: 1, site: .up)])
        // q's input is RMSNorm(h_0) ⊙ γ computed here independently.
        let d = m.config.hiddenSize
        let h0 = out.residuals[0].values, gamma = m.weights.blocks[0].inputNorm.values
        let q = inputs[LinearID(layer: 0, site: .q)]!
        for r in 0..<tokens.count {
            let row = Array(h0[(r * d)..<((r + 1) * d)])
            let rms = (row.map { $0 * $0 }.reduce(0, +) / Float(d) + m.config.rmsNormEps).squareRoot()
            for i in 0..<d { XCTAssertEqual(q[r * d + i], row[i] / rms * gamma[i], accuracy: 1e-5) }
        }
        XCTAssertEqual(inputs[LinearID(layer: 0, site: .down)]!.count, tokens.count * m.config.intermediateSize)
    }

    func testWeightDeltaEqualsEditedWeights() throws {
        let m = try Fixtures.model("llama_sharded")
        let id = LinearID(layer: 1, site: .down)
        let lw = m.weights.blocks[1].down
        let (out, inF) = (lw.outFeatures, lw.inFeatures)
        var rng = SeededGenerator(seed: 3)
        let r = 2
        let a = Tensor(shape: [r, inF], values: (0..<(r * inF)).map { _ in rng.nextUnitFloat() - 0.5 })
        let b = Tensor(shape: [out, r], values: (0..<(out * r)).map { _ in rng.nextUnitFloat() - 0.5 })
        var dense = [Float](repeating: 0, count: out * inF)
        for i in 0..<out { for j in 0..<inF { for k in 0..<r { dense[i * inF + j] += b.values[i * r + k] * a.values[k * inF + j] } } }

        var weights = m.weights
        weights.blocks[1].down.weight = Tensor(shape: [out, inF], values: zip(lw.weight.values, dense).map { $0 + $1 })
        let edited = TransformerModel(config: m.config, weights: weights)

        var lowRank = ForwardHooks()
        lowRank.add(LowRankWeightDelta(a: a, b: b), to: id)
        var full = ForwardHooks()
        full.add(DenseWeightDelta(Tensor(shape: [out, inF], values: dense)), to: id)
        let expected = try logits(edited)
        assertClose(try logits(m, lowRank), expected)
        assertClose(try logits(m, full), expected)
        // The model's own weights are untouched by the hook.
        XCTAssertEqual(m.weights.blocks[1].down.weight.values, lw.weight.values)
    }
}
