import Foundation
import Model
import XCTest

/// The backward pass against PyTorch (scripts/make_gradient_fixtures.py): summed
/// next-token cross-entropy over a masked set of positions, gradients of every
/// weight, of the residual stream, of a steering vector, and the (input, output
/// gradient) pairs the linear tap exposes. Tolerance: max |Δ| ≤ 2e-4 × max |reference|
/// per tensor (float32 on both sides, different summation orders).
final class GradientTests: XCTestCase {
    static let tolerance: Float = 2e-4
    static let fixtures = ["llama_gqa_llama3rope", "qwen2_bias_tied_f16"]

    struct Setup {
        var model: TransformerModel
        var batch: TokenBatch
        var labels: [Int?]
        var reference: SafeTensorsFile
    }

    func setup(_ name: String) throws -> Setup {
        let model = try Fixtures.model(name)
        let ref = try Fixtures.reference(name)
        let grads = try SafeTensorsFile(path: Fixtures.path(name) + "/gradients.safetensors")
        let shape = try ref.info("input_ids").shape
        let batch = TokenBatch(batchSize: shape[0], length: shape[1], tokens: try ref.intValues("input_ids"),
                               isReal: try ref.intValues("attention_mask").map { $0 != 0 })
        let labels = try grads.intValues("labels").map { $0 < 0 ? nil : $0 }
        return Setup(model: model, batch: batch, labels: labels, reference: grads)
    }

    func assertClose(_ mine: UnsafePointer<Float>, _ theirs: UnsafePointer<Float>, count: Int, indices: [Int]? = nil,
                     _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let idx = indices ?? Array(0..<count)
        let bound = Self.tolerance * max(maxAbs(theirs, indices: idx), 1e-6)
        let diff = maxAbsDiff(mine, theirs, indices: idx)
        XCTAssertLessThanOrEqual(diff, bound, "\(what): max |Δ| \(diff) > \(bound)", file: file, line: line)
    }

    func testGradientsMatchPyTorch() throws {
        for name in Self.fixtures {
            let s = try setup(name)
            let (m, ref) = (s.model, s.reference)
            let record = ForwardRecord()
            let out = try m.forward(s.batch, logits: .all, record: record)
            let (loss, dLogits) = CrossEntropy.lossAndGradient(logits: out.logits!, labels: s.labels)
            let refLoss = try ref.floatTensor("loss").values[0]
            XCTAssertEqual(Float(loss), refLoss, accuracy: 1e-5 * refLoss, name)

            let grads = m.weights.zerosLike()
            var options = BackwardOptions(weightGradients: grads)
            let d = m.config.hiddenSize, rows = s.batch.batchSize * s.batch.length
            var residualGrads: [Int: [Float]] = [:]
            options.residualGradientReader = { r, view in residualGrads[r] = Array(UnsafeBufferPointer(start: view.pointer, count: rows * d)) }
            var taps: [String: ([Float], [Float])] = [:]
            options.linearGradientTap = { id, a, g in
                if id.layer == 0, [.gate, .up, .down].contains(id.site) {
                    taps[id.description] = (Array(UnsafeBufferPointer(start: a.pointer, count: rows * a.width)),
                                            Array(UnsafeBufferPointer(start: g.pointer, count: rows * g.width)))
                }
            }
            try m.backward(record, logitGradient: dLogits, options: options)

            for (hfName, mine) in grads.named.map({ ($0.name, $0.tensor) }) {
                let theirs = try ref.floatTensor("grad." + hfName)
                XCTAssertEqual(mine.shape, theirs.shape, "\(name) \(hfName)")
                assertClose(mine.data, theirs.data, count: mine.count, "\(name) grad \(hfName)")
            }
            let real = (0..<rows).filter { s.batch.isReal[$0] }
            let realIdx = real.flatMap { r in (r * d)..<((r + 1) * d) }
            let refResidual = try ref.floatTensor("grad_residual")
            for (r, mine) in residualGrads {
                mine.withUnsafeBufferPointer {
                    assertClose($0.baseAddress!, refResidual.data + r * rows * d, count: rows * d, indices: realIdx, "\(name) dL/dh_\(r)")
                }
            }
            for (module, (a, g)) in taps {
                let refA = try ref.floatTensor("tap.\(module).input"), refG = try ref.floatTensor("tap.\(module).output_grad")
                let w = a.count / rows, wg = g.count / rows
                a.withUnsafeBufferPointer {
                    assertClose($0.baseAddress!, refA.data, count: a.count, indices: real.flatMap { r in (r * w)..<((r + 1) * w) }, "\(name) \(module) input")
                }
                g.withUnsafeBufferPointer {
                    assertClose($0.baseAddress!, refG.data, count: g.count, indices: real.flatMap { r in (r * wg)..<((r + 1) * wg) }, "\(name) \(module) output grad")
                }
            }
            XCTAssertEqual(taps.count, 3)
            // A steering vector added after block 0: its gradient is Σ_rows dL/dh_1.
            var steer = [Float](repeating: 0, count: d)
            for r in 0..<rows { for i in 0..<d { steer[i] += residualGrads[1]![r * d + i] } }
            let refSteer = try ref.floatTensor("grad.steer.0")
            steer.withUnsafeBufferPointer { assertClose($0.baseAddress!, refSteer.data, count: d, "\(name) steering gradient") }
        }
    }

    func lossAndGradients(_ m: TransformerModel, _ batch: TokenBatch, _ labels: [Int?]) throws -> (Double, ModelWeights) {
        let record = ForwardRecord()
        let out = try m.forward(batch, logits: .all, record: record)
        let (loss, dLogits) = CrossEntropy.lossAndGradient(logits: out.logits!, labels: labels)
        let grads = m.weights.zerosLike()
        try m.backward(record, logitGradient: dLogits, options: BackwardOptions(weightGradients: grads))
        return (loss, grads)
    }

    /// Recomputing blocks during backward (activation checkpointing) gives the same gradients bit for bit.
    func testRecomputedBlocksGiveIdenticalGradients() throws {
        let s = try setup("llama_gqa_llama3rope")
        let (_, kept) = try lossAndGradients(s.model, s.batch, s.labels)
        let record = ForwardRecord(recomputeBlocks: true)
        let out = try s.model.forward(s.batch, logits: .all, record: record)
        let (_, dLogits) = CrossEntropy.lossAndGradient(logits: out.logits!, labels: s.labels)
        let recomputed = s.model.weights.zerosLike()
        try s.model.backward(record, logitGradient: dLogits, options: BackwardOptions(weightGradients: recomputed))
        for (a, b) in zip(kept.named, recomputed.named) { XCTAssertEqual(a.tensor.values, b.tensor.values, a.name) }
    }

    /// Logits for the labelled rows only (`.rows`) give the same loss, and backward from their
    /// compact gradient the same weight gradients, as the full logits (both fixtures: untied and tied).
    func testLogitsForChosenRowsGiveTheSameGradients() throws {
        for name in Self.fixtures {
            let s = try setup(name)
            let (loss, full) = try lossAndGradients(s.model, s.batch, s.labels)
            let rows = s.labels.indices.filter { s.labels[$0] != nil }
            XCTAssertLessThan(rows.count, s.labels.count, "the fixture leaves rows without a label")
            let record = ForwardRecord()
            let out = try s.model.forward(s.batch, logits: .rows(rows), record: record)
            XCTAssertEqual(out.logits!.shape, [rows.count, s.model.config.vocabSize])
            let (compactLoss, dLogits) = CrossEntropy.lossAndGradient(logits: out.logits!, labels: rows.map { s.labels[$0] })
            XCTAssertEqual(compactLoss, loss, accuracy: 1e-5 * abs(loss), name)
            let grads = s.model.weights.zerosLike()
            try s.model.backward(record, logitGradient: dLogits, logitRows: rows, options: BackwardOptions(weightGradients: grads))
            for (a, b) in zip(full.named, grads.named) {
                assertClose(b.tensor.data, a.tensor.data, count: a.tensor.count, "\(name) \(a.name)")
            }
        }
    }

    /// Summed gradients do not depend on how the sequences are batched.
    func testBatchSizeInvariance() throws {
        let s = try setup("qwen2_bias_tied_f16")
        let (_, whole) = try lossAndGradients(s.model, s.batch, s.labels)
        let T = s.batch.length
        var parts: [ModelWeights] = []
        for b in 0..<2 {
            let one = TokenBatch(batchSize: 1, length: T, tokens: Array(s.batch.tokens[(b * T)..<((b + 1) * T)]),
                                 isReal: Array(s.batch.isReal[(b * T)..<((b + 1) * T)]))
            parts.append(try lossAndGradients(s.model, one, Array(s.labels[(b * T)..<((b + 1) * T)])).1)
        }
        for (whole, (p0, p1)) in zip(whole.named, zip(parts[0].named, parts[1].named)) {
            let (name, w, p0, p1) = (whole.name, whole.tensor, p0.tensor, p1.tensor)
            let sum = zip(p0.values, p1.values).map { $0 + $1 }
            sum.withUnsafeBufferPointer { assertClose(w.data, $0.baseAddress!, count: w.count, "batch invariance \(name)") }
        }
    }

    /// Central finite differences of the loss in float32 for the largest-gradient
    /// element of a few weights (h = 1e-2; tolerance 2% of the gradient).
    func testFiniteDifferences() throws {
        let s = try setup("llama_gqa_llama3rope")
        let (_, grads) = try lossAndGradients(s.model, s.batch, s.labels)
        let gradByName = Dictionary(uniqueKeysWithValues: grads.named.map { ($0.name, $0.tensor) })
        for name in ["model.layers.0.mlp.down_proj.weight", "model.layers.1.self_attn.q_proj.weight",
                     "model.layers.0.self_attn.k_proj.weight", "model.norm.weight", "model.embed_tokens.weight"] {
            let g = gradByName[name]!
            let i = g.values.indices.max { abs(g.values[$0]) < abs(g.values[$1]) }!
            func loss(shift: Float) throws -> Double {
                var w = s.model.weights
                func edited(_ t: Tensor) -> Tensor {
                    var v = t.values
                    v[i] += shift
                    return Tensor(shape: t.shape, values: v)
                }
                switch name {
                case "model.norm.weight": w.finalNorm = edited(w.finalNorm)
                case "model.embed_tokens.weight": w.embedding = edited(w.embedding)
                case "model.layers.0.mlp.down_proj.weight": w.blocks[0].down.weight = edited(w.blocks[0].down.weight)
                case "model.layers.1.self_attn.q_proj.weight": w.blocks[1].q.weight = edited(w.blocks[1].q.weight)
                default: w.blocks[0].k.weight = edited(w.blocks[0].k.weight)
                }
                let m = TransformerModel(config: s.model.config, weights: w)
                let logits = try m.forward(s.batch, logits: .all).logits!
                return CrossEntropy.lossAndGradient(logits: logits, labels: s.labels).loss
            }
            let h: Float = 1e-2
            let numeric = (try loss(shift: h) - loss(shift: -h)) / Double(2 * h)
            XCTAssertEqual(numeric, Double(g.values[i]), accuracy: 0.02 * abs(Double(g.values[i])), "\(name)[\(i)]")
        }
    }
}
