import Foundation
import Model
import Steering
import XCTest

/// LoRA, LoRA-XS and TinyLoRA against PyTorch (scripts/make_adapter_fixtures.py): with the
/// fixture's adapters attached to a fixture checkpoint, the loss and every parameter's
/// gradient under the clipped policy-gradient objective (DAPO reduction, k3 KL) and under
/// supervised cross-entropy. Tolerances: loss 1e-4 relative; gradient max |Δ| ≤ 1e-4 × max
/// |reference| per parameter. Also: the SVD factors, finite differences on a shared TinyLoRA
/// vector, merged = unmerged, and the adapter files' round trips.
final class AdapterTests: XCTestCase {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = here.appendingPathComponent("Fixtures/adapters")
    static let cases = ["lora", "loraxs", "tinylora_untied", "tinylora_tied"]

    func setup() throws -> PolicyFixture {
        try PolicyFixture(reference: Self.fixtures.appendingPathComponent("reference.safetensors").path)
    }

    func adapter(_ name: String, _ model: TransformerModel) throws -> WeightAdapter {
        try WeightAdapter.load(Self.fixtures.appendingPathComponent(name + ".safetensors").path, model: model)
    }

    func testPolicyGradientMatchesPyTorch() throws {
        let s = try setup()
        let objective = PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo, clipLow: 0.2, clipHigh: 0.28,
                                        klCoefficient: 0.05)
        for name in Self.cases {
            let adapter = try adapter(name, s.model)
            let report = try PolicyGradient.accumulate(
                model: s.model, trainable: adapter, referenceModel: s.model,
                batch: RolloutBatch(prompts: s.prompts, completions: s.completions,
                                    advantages: objective.advantages(rewards: s.rewards, groupSize: 3), oldLogProbabilities: s.old),
                objective: objective, microBatchSize: 4, maxCompletionLength: 8)
            let refLoss = Double(try s.reference.floatTensor("\(name).rl.loss").values[0])
            XCTAssertEqual(report.loss, refLoss, accuracy: 1e-4 * max(abs(refLoss), 1e-3), name)
            XCTAssertGreaterThan(report.clippedFraction, 0, "clipping must be active in the fixture")
            try s.assertGradients(adapter.parameters, "\(name).rl")
        }
    }

    func testSupervisedGradientMatchesPyTorch() throws {
        let s = try setup()
        let examples = s.examples
        for name in Self.cases {
            let adapter = try adapter(name, s.model)
            let pass = try SupervisedTrainer.accumulate(model: s.model, trainable: adapter, examples: examples, microBatchSize: 4)
            let refLoss = Double(try s.reference.floatTensor("\(name).sft.loss").values[0])
            XCTAssertEqual(pass.loss, refLoss, accuracy: 1e-4 * abs(refLoss), name)
            try s.assertGradients(adapter.parameters, "\(name).sft")
        }
    }

    /// B A from the workbench's SVD is PyTorch's best rank-2 approximation.
    func testSVDFactorsAreTheBestLowRankApproximation() throws {
        let s = try setup()
        let adapter = try WeightAdapter.initialise(AdapterSettings(kind: .loraxs), model: s.model)
        var checked = 0
        for m in adapter.modules {
            guard let expected = try? s.reference.floatTensor("lowrank.\(m.id)") else { continue }
            // With R = I, ΔW = B A.
            m.coreParameter!.value.mutableData.update(from: [1, 0, 0, 1], count: 4)
            let (out, inF) = (expected.shape[0], expected.shape[1])
            let mine = adapter.deltaMatrix(m, inFeatures: inF, outFeatures: out)
            let scale = expected.values.map(abs).max()!
            XCTAssertLessThan(zip(mine, expected.values).map { abs($0 - $1) }.max()!, 1e-4 * scale, "\(m.id)")
            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    /// Central differences of the supervised loss along a TinyLoRA vector shared by all 14
    /// modules (the gradient sums over every module using it).
    func testSharedTinyLoRAVectorAgainstFiniteDifferences() throws {
        let s = try setup()
        let adapter = try WeightAdapter.initialise(AdapterSettings(kind: .tinylora, u: 3, tie: 0, seed: 5), model: s.model)
        XCTAssertEqual(adapter.parameterCount, 3)
        let v = adapter.parameters[0]
        v.value.mutableData.update(from: [0.02, -0.03, 0.01], count: 3)
        let examples = s.examples
        _ = try SupervisedTrainer.accumulate(model: s.model, trainable: adapter, examples: examples, microBatchSize: 6)
        let analytic = v.gradient.values
        for i in 0..<3 {
            let h: Float = 2e-3
            var losses: [Double] = []
            for sign in [Float(1), -1] {
                let saved = v.value.values
                v.value.mutableData[i] += sign * h
                losses.append(try SupervisedTrainer.accumulate(model: s.model, trainable: adapter, examples: examples, microBatchSize: 6).loss)
                v.value.mutableData.update(from: saved, count: 3)
            }
            let numeric = (losses[0] - losses[1]) / Double(2 * h)
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 0.02 * abs(numeric) + 1e-5, "v[\(i)]")
        }
    }

    /// Logits with the adapter as hooks equal those of the merged weights, for every kind.
    func testMergedAdapterGivesTheSameLogits() throws {
        let s = try setup()
        let batch = TokenBatch.leftPadded(s.prompts)
        for name in Self.cases {
            let adapter = try adapter(name, s.model)
            let hooked = try s.model.forward(batch, hooks: adapter.hooks(), logits: .all).logits!.values
            let merged = try adapter.mergedModel(s.model).forward(batch, logits: .all).logits!.values
            let base = try s.model.forward(batch, logits: .all).logits!.values
            let scale = hooked.map(abs).max()!
            XCTAssertLessThan(zip(hooked, merged).map { abs($0 - $1) }.max()!, 1e-4 * scale, name)
            XCTAssertGreaterThan(zip(hooked, base).map { abs($0 - $1) }.max()!, 1e-3 * scale, "\(name) must change the logits")
        }
    }

    /// Run file and PEFT directory both read back to the same function; tying survives the run
    /// file, and a type-tied TinyLoRA adapter is exported untied (PEFT groups by depth only).
    func testFilesRoundTrip() throws {
        let s = try setup()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-roundtrip-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let batch = TokenBatch.leftPadded(s.prompts)
        var made: [String: WeightAdapter] = [:]
        for (name, tie, order) in [("type-tied", 2, TyingOrder.type), ("depth-tied-7", 7, .depth)] {
            let a = try WeightAdapter.initialise(AdapterSettings(kind: .tinylora, u: 2, tie: tie, tyingOrder: order, seed: 1), model: s.model)
            for (i, p) in a.parameters.enumerated() { p.value.mutableData.update(from: [0.05 * Float(i + 1), -0.02], count: 2) }
            made[name] = a
        }
        XCTAssertEqual(made["type-tied"]!.parameterCount, 2 * 7)
        for name in Self.cases + made.keys.sorted() {
            let adapter = try made[name] ?? adapter(name, s.model)
            let expected = try s.model.forward(batch, hooks: adapter.hooks(), logits: .all).logits!.values
            let runFile = dir + "/\(name).safetensors"
            try adapter.save(to: runFile)
            let reread = try WeightAdapter.load(runFile, model: s.model)
            XCTAssertEqual(reread.parameterCount, adapter.parameterCount, name)
            XCTAssertEqual(try s.model.forward(batch, hooks: reread.hooks(), logits: .all).logits!.values, expected, name)
            try adapter.exportPEFT(to: dir + "/\(name)-peft", baseModel: PolicyFixture.modelPath)
            let peft = try WeightAdapter.loadPEFT(dir + "/\(name)-peft", model: s.model)
            let logits = try s.model.forward(batch, hooks: peft.hooks(), logits: .all).logits!.values
            let scale = expected.map(abs).max()!
            XCTAssertLessThan(zip(logits, expected).map { abs($0 - $1) }.max()!, 1e-5 * scale, name)
            switch name {
            case "depth-tied-7": XCTAssertEqual(peft.parameterCount, 2 * 2, "PEFT's weight_tying 0.5 groups 14 modules as 7 + 7")
            case "tinylora_tied": XCTAssertEqual(peft.parameterCount, 3 * 14, "3 does not divide 14: PEFT would group 2,2,2,2,6")
            case "type-tied": XCTAssertEqual(peft.parameterCount, 2 * 14, "PEFT groups by depth only")
            case "loraxs": XCTAssertEqual(peft.kind, .lora, "PEFT has no LoRA-XS: exported as LoRA with A' = R Vᵀ")
            default: XCTAssertEqual(peft.parameterCount, adapter.parameterCount, name)
            }
        }
    }

    func testTyingGroups() {
        let ids = (0..<2).flatMap { l in LinearSite.allCases.map { LinearID(layer: l, site: $0) } }
        XCTAssertEqual(WeightAdapter.groups(of: ids, tie: 3, order: .depth), [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4])
        XCTAssertEqual(WeightAdapter.groups(of: ids, tie: 2, order: .type), [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Set(WeightAdapter.groups(of: ids, tie: 0, order: .depth)), [0])
        XCTAssertEqual(WeightAdapter.groups(of: ids, tie: 1, order: .type).sorted(), Array(0..<14))
    }

    func testBadAdapterFilesAreRefused() throws {
        let s = try setup()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-bad-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adapter = try adapter("lora", s.model)
        try adapter.exportPEFT(to: dir, baseModel: "x")
        let config = dir + "/adapter_config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as! [String: Any]
        json["use_dora"] = true
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: config))
        XCTAssertThrowsError(try WeightAdapter.loadPEFT(dir, model: s.model)) { error in
            XCTAssertTrue("\(error)".contains("use_dora"), "\(error)")
        }
        // An adapter for a wider model.
        let other = try TransformerModel.load(directory: Self.here.deletingLastPathComponent()
            .appendingPathComponent("ModelTests/Fixtures/qwen2_bias_tied_f16").path)
        XCTAssertThrowsError(try WeightAdapter.load(Self.fixtures.appendingPathComponent("lora.safetensors").path, model: other))
    }
}
