import CKernels
import Foundation
import Model

public struct TunedLensTrainingOptions: Sendable {
    public var steps = 200
    /// Windows per step (their length is the data's).
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    public var warmup = 20
    public var seed: UInt64 = 0
    public init() {}
}

/// Trains tuned-lens translators: for every residual index r < L, A_r and b_r
/// minimise the mean over tokens of KL(p_final ‖ softmax(W_U RMSNorm(h_r + A_r h_r + b_r))).
/// The model itself is frozen; one forward pass per step serves all translators.
public enum TunedLensTrainer {
    public static func train(model: TransformerModel, data: WindowedTokens, options: TunedLensTrainingOptions,
                             progress: (Int, Float) -> Void = { _, _ in }) throws -> (lens: TunedLens, losses: [Float]) {
        let c = model.config
        let (L, d, V, B, T) = (c.layerCount, c.hiddenSize, c.vocabSize, options.batchSize, data.length)
        let rows = B * T
        let lens = TunedLens(identityFor: model)
        let translators = Translators(lens)
        let loop = OptimizationLoop(trainable: translators, optimizer: AdamW(weightDecay: 0),
                                    schedule: LearningRateSchedule(peak: options.learningRate, warmup: options.warmup, total: options.steps),
                                    clipNorm: 0)
        var losses: [Float] = []
        var sequences: [ArraySlice<Int>] = [], epoch = 0, cursor = 0
        let translated = Tensor(zeros: [rows, d]), dTranslated = Tensor(zeros: [rows, d])
        for _ in 0..<options.steps {
            var tokens: [Int] = []
            for _ in 0..<B {
                if cursor == sequences.count { sequences = data.epoch(epoch, seed: options.seed); epoch += 1; cursor = 0 }
                tokens += sequences[cursor]; cursor += 1
            }
            var residuals = [Tensor?](repeating: nil, count: L + 1)
            var hooks = ForwardHooks()
            hooks.residualReader = { r, view in residuals[r] = view.tensor() }
            _ = try model.forward(TokenBatch(batchSize: B, length: T, tokens: tokens), hooks: hooks, logits: .none)
            let finalProbs = model.unembed(residuals[L]!.data, rows: rows, shape: [rows, V])
            softmaxRows(finalProbs.mutableData, rows: rows, width: V)
            let negativeEntropy = rowNegativeEntropy(finalProbs.data, rows: rows, width: V)
            let report = loop.step { _ in
                var stepLoss: Double = 0
                for r in 0..<L {
                    let h = residuals[r]!
                    lens.translate(h.data, rows: rows, residualIndex: r, into: translated.mutableData)
                    let q = model.unembed(translated.data, rows: rows, shape: [rows, V])
                    stepLoss += meanKLAndGradient(q.mutableData, target: finalProbs.data, negativeEntropy: negativeEntropy, rows: rows, width: V)
                    // q now holds ∂loss/∂logits = (softmax − p_final) / rows; back through W_U and the final norm.
                    model.unembedBackward(translated.data, rows: rows, logitGradient: q.data, inputGradient: dTranslated.mutableData)
                    // ∂/∂A_r = Σ_rows dh' hᵀ, ∂/∂b_r = Σ_rows dh'.
                    let (gradA, gradB) = (translators.parameters[2 * r].gradient, translators.parameters[2 * r + 1].gradient)
                    sgemmParallel(transA: true, m: d, n: d, k: rows, a: dTranslated.data, lda: d, b: h.data, ldb: d,
                                  c: gradA.mutableData, ldc: d)
                    for row in 0..<rows { for i in 0..<d { gradB.mutableData[i] += dTranslated.data[row * d + i] } }
                }
                return stepLoss / Double(L)
            }
            let loss = Float(report.loss)
            losses.append(loss)
            progress(report.step, loss)
        }
        return (lens, losses)
    }

    /// The translators as the optimisation loop trains them: A_r, b_r for r = 0..<L, sharing
    /// storage with the lens.
    final class Translators: Trainable {
        let parameters: [Parameter]
        init(_ lens: TunedLens) {
            parameters = (0..<lens.translatorCount).flatMap { r in
                [Parameter(name: "A.\(r)", value: lens.weights[r], decays: true),
                 Parameter(name: "b.\(r)", value: lens.biases[r], decays: false)]
            }
        }
    }

    /// Mean KL(final ‖ lens) per residual index 0...L over the given windows, for the
    /// logit lens and for `lens` (index L, the model's own output, is 0 for both).
    public static func heldOutKL(model: TransformerModel, lens: TunedLens, windows: [[Int]]) throws -> (logit: [Double], tuned: [Double]) {
        let L = model.config.layerCount
        var logit = [Double](repeating: 0, count: L + 1), tuned = logit
        var count = 0
        let options = LogitLensOptions(k: 1)
        for window in windows {
            let both = try LogitLensRun.run(model: model, tokens: window, options: options, lenses: [nil, lens])
            let (plain, translated) = (both[0], both[1])
            for s in 0...L {
                logit[s] += plain.klToFinal[s].reduce(0) { $0 + Double($1) }
                tuned[s] += translated.klToFinal[s].reduce(0) { $0 + Double($1) }
            }
            count += window.count
        }
        return (logit.map { $0 / Double(max(count, 1)) }, tuned.map { $0 / Double(max(count, 1)) })
    }

    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.forEachChunk(rows, costPerItem: width * 4) { range in
            for r in range {
                let row = x + r * width
                var m = -Float.infinity
                for i in 0..<width { m = max(m, row[i]) }
                let s = wb_exp_shifted_sum(row, width, m)
                for i in 0..<width { row[i] /= s }
            }
        }
    }

    /// Σ_i p_i log p_i of each row.
    static func rowNegativeEntropy(_ p: UnsafePointer<Float>, rows: Int, width: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forEachChunk(rows, costPerItem: width * 4) { range in
                for r in range {
                    let pr = p + r * width
                    var plogp: Double = 0
                    for i in 0..<width where pr[i] > 0 { plogp += Double(pr[i]) * log(Double(pr[i])) }
                    o[r] = plogp
                }
            }
        }
        return out
    }

    /// Replaces logits z by (softmax(z) − p) / rows and returns mean_rows KL(p ‖ softmax z),
    /// given each row's Σ p log p.
    static func meanKLAndGradient(_ z: UnsafeMutablePointer<Float>, target p: UnsafePointer<Float>, negativeEntropy: [Double],
                                  rows: Int, width: Int) -> Double {
        var total: Double = 0
        let lock = NSLock()
        Parallel.forEachChunk(rows, costPerItem: width * 6) { range in
            var local: Double = 0
            for r in range {
                let row = z + r * width, pr = p + r * width
                var st = [Double](repeating: 0, count: 4)
                wb_softmax_row_stats(row, width, pr, &st)
                let logS = log(st[1])
                // KL = Σ p log p − (Σ p (z − m) − log s)
                local += negativeEntropy[r] - (st[3] - logS)
                let shift = Float(st[0] + logS), scale = 1 / Float(rows)
                for i in 0..<width { row[i] = (exp(row[i] - shift) - pr[i]) * scale }
            }
            lock.lock(); total += local; lock.unlock()
        }
        return total / Double(rows)
    }
}
