import Foundation
import Model
import XCTest

/// A `TokenBatch.sharedPrefix` batch computes, for every branch, what prefix + branch would
/// on its own: the same logits (forward), and the same weight and residual gradients as the
/// left-padded batch of those sequences (backward). Tolerance 1e-5 relative on logits, 1e-4
/// on gradients (float32, different summation orders).
final class SharedPrefixTests: XCTestCase {
    static let fixtures = ["llama_gqa_llama3rope", "qwen2_bias_tied_f16"]

    /// Two groups with prompts of different lengths (the shorter one padded), branches of
    /// several lengths, one empty, and one longer than attention's 128-row blocks.
    func groups(vocabulary V: Int) -> [(prefix: [Int], branches: [[Int]])] {
        var rng = SeededGenerator(seed: 7)
        func tokens(_ n: Int) -> [Int] { (0..<n).map { _ in Int.random(in: 1..<V, using: &rng) } }
        return [(tokens(5), [tokens(3), tokens(1), [], tokens(4)]),
                (tokens(9), [tokens(2), tokens(140), tokens(6)])]
    }

    func testBranchesComputeWhatTheirSequencesComputeAlone() throws {
        for name in Self.fixtures {
            let model = try Fixtures.model(name)
            let V = model.config.vocabSize
            let groups = groups(vocabulary: V)
            let packed = TokenBatch.sharedPrefix(groups)
            let logits = try model.forward(packed, logits: .all).logits!
            let T = packed.length
            for (g, group) in groups.enumerated() {
                var row = g * T + T - group.prefix.count - group.branches.reduce(0) { $0 + $1.count }
                let prefixAlone = try model.forward(TokenBatch(group.prefix), logits: .all).logits!
                for t in 0..<group.prefix.count {
                    assertRow(logits.data + (row + t) * V, prefixAlone.data + t * V, count: V, "\(name) group \(g) prompt \(t)")
                }
                row += group.prefix.count
                for (k, branch) in group.branches.enumerated() {
                    let alone = try model.forward(TokenBatch(group.prefix + branch), logits: .all).logits!
                    for t in 0..<branch.count {
                        assertRow(logits.data + (row + t) * V, alone.data + (group.prefix.count + t) * V, count: V,
                                  "\(name) group \(g) branch \(k) token \(t)")
                    }
                    row += branch.count
                }
            }
        }
    }

    func testGradientsEqualThoseOfTheLeftPaddedSequences() throws {
        for name in Self.fixtures {
            let model = try Fixtures.model(name)
            let (V, d, L) = (model.config.vocabSize, model.config.hiddenSize, model.config.layerCount)
            let groups = groups(vocabulary: V)
            // Every branch token carries a loss gradient (a fixed pseudo-random one per
            // sequence, token and logit), read from the row that predicts it.
            var sequences: [[Int]] = [], promptLengths: [Int] = [], predicted: [(sequence: Int, position: Int)] = []
            var packedRows: [Int] = []
            let packed = TokenBatch.sharedPrefix(groups)
            for (g, group) in groups.enumerated() {
                let start = g * packed.length + packed.length - group.prefix.count - group.branches.reduce(0) { $0 + $1.count }
                var branchStart = start + group.prefix.count
                for branch in group.branches {
                    for j in 0..<branch.count {
                        predicted.append((sequences.count, group.prefix.count - 1 + j))
                        packedRows.append(j == 0 ? start + group.prefix.count - 1 : branchStart + j - 1)
                    }
                    sequences.append(group.prefix + branch)
                    promptLengths.append(group.prefix.count)
                    branchStart += branch.count
                }
            }
            var rng = SeededGenerator(seed: 11)
            let gradient = Tensor(shape: [predicted.count, V], storage: FloatStorage(
                (0..<(predicted.count * V)).map { _ in Float.random(in: -1...1, using: &rng) / Float(V) }))
            var padded = TokenBatch.leftPadded(sequences)
            padded.promptLengths = promptLengths
            let paddedRows = predicted.map { $0.sequence * padded.length + padded.length - sequences[$0.sequence].count + $0.position }

            func gradients(_ batch: TokenBatch, rows: [Int]) throws -> (weights: ModelWeights, residual: [[Float]]) {
                let record = ForwardRecord()
                _ = try model.forward(batch, logits: .rows(rows), record: record)
                var options = BackwardOptions(weightGradients: model.weights.zerosLike())
                var residual = [[Float]](repeating: [Float](repeating: 0, count: d), count: L + 1)
                options.residualGradientReader = { r, view in
                    for row in 0..<view.rows where view.layout.isReal[row] {
                        for i in 0..<d { residual[r][i] += view.pointer[row * d + i] }
                    }
                }
                try model.backward(record, logitGradient: gradient, logitRows: rows, options: options)
                return (options.weightGradients!, residual)
            }
            let mine = try gradients(packed, rows: packedRows), theirs = try gradients(padded, rows: paddedRows)
            for ((weight, a), (_, b)) in zip(mine.weights.named.map { ($0.name, $0.tensor) }, theirs.weights.named.map { ($0.name, $0.tensor) }) {
                assertRow(a.data, b.data, count: a.count, tolerance: 1e-4, "\(name) grad \(weight)")
            }
            for r in 0...L {
                assertRow(mine.residual[r], theirs.residual[r], count: d, tolerance: 1e-4, "\(name) Σ dL/dh_\(r) (a steering vector's gradient)")
            }
        }
    }

    func testSharedPrefillGeneratesWhatSeparatePrefillsDo() throws {
        let model = try Fixtures.model(Self.fixtures[0])
        let prompts = [[5, 9, 2, 7], [3, 8], [5, 9, 2, 7], [5, 9, 2, 7], [3, 8]]
        var options = GenerationOptions(maxNewTokens: 6, sampling: SamplingOptions(temperature: 1, topK: 0, topP: 1),
                                        sequenceSeeds: [11, 12, 13, 14, 15], returnLogProbabilities: true)
        let separate = try model.generate(prompts: prompts, options: options)
        options.sharePromptPrefill = true
        let shared = try model.generate(prompts: prompts, options: options)
        XCTAssertEqual(shared.tokens, separate.tokens)
        XCTAssertEqual(shared.stopped, separate.stopped)
        for (a, b) in zip(shared.logProbabilities, separate.logProbabilities) {
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y))) }
        }
    }

    func testAKVCacheIsRefused() throws {
        let model = try Fixtures.model(Self.fixtures[0])
        let batch = TokenBatch.sharedPrefix([([1, 2, 3], [[4, 5], [6]])])
        let cache = KVCache(config: model.config, batchSize: 1, capacity: 16)
        XCTAssertThrowsError(try model.forward(batch, cache: cache, logits: .none)) { error in
            XCTAssertTrue("\(error)".contains("shared-prefix batch cannot use a KV cache"), "\(error)")
        }
    }

    /// max |a − b| ≤ tolerance × max |b|.
    func assertRow(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, tolerance: Float = 1e-5, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) {
        let all = Array(0..<count)
        let bound = tolerance * max(maxAbs(b, indices: all), 1e-6)
        let diff = maxAbsDiff(a, b, indices: all)
        XCTAssertLessThanOrEqual(diff, bound, "\(what): max |Δ| \(diff) > \(bound)", file: file, line: line)
    }
}
