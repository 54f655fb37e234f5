import Foundation
import Model

public struct TunedLensTrainingOptions: Sendable {
    public var steps = 200
    /// Windows per step (their length is the data's).
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    public var warmup = 20
    public var seed: UInt64 = 0
    /// Where to keep a resumable checkpoint (nil: none): written every `checkpointEvery` steps;
    /// when the file exists at the start, training continues from it, bit for bit.
    public var checkpoint: String?
    public var checkpointEvery = 50
    /// Identifies the data and options; a checkpoint with another key is refused.
    public var runKey = ""
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
        if let path = options.checkpoint, FileManager.default.fileExists(atPath: path) {
            let saved = try loop.restoreCheckpoint(from: path)
            guard saved["run_key"] == options.runKey, let e = saved["epoch"].flatMap(Int.init), let c = saved["cursor"].flatMap(Int.init) else {
                throw WorkbenchError("a checkpoint of a tuned lens with other data or options is in the way; remove it to start afresh", file: path)
            }
            (epoch, cursor) = (e, c)
            if epoch > 0 { sequences = data.epoch(epoch - 1, seed: options.seed) }
            losses = loop.history.map { Float($0.loss) }
        }
        let translated = Tensor(zeros: [rows, d]), dTranslated = Tensor(zeros: [rows, d])
        while loop.completedSteps < options.steps {
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
            TokenDistribution.softmaxRows(finalProbs.mutableData, rows: rows, width: V)
            let negativeEntropy = TokenDistribution.negativeEntropies(finalProbs.data, rows: rows, width: V)
            let report = try loop.step { _ in
                var stepLoss: Double = 0
                for r in 0..<L {
                    let h = residuals[r]!
                    lens.translate(h.data, rows: rows, residualIndex: r, into: translated.mutableData)
                    let q = model.unembed(translated.data, rows: rows, shape: [rows, V])
                    stepLoss += TokenDistribution.meanKLAndGradient(q.mutableData, target: finalProbs.data, negativeEntropy: negativeEntropy, rows: rows, width: V)
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
            if let path = options.checkpoint, options.checkpointEvery > 0,
               report.step % options.checkpointEvery == 0, report.step < options.steps {
                try loop.saveCheckpoint(to: path, extra: ["run_key": options.runKey, "epoch": String(epoch), "cursor": String(cursor)])
            }
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
}
