import Cluster
import Foundation
import Model

/// The sequences a policy-gradient pass trains on: prompt and completion tokens of each
/// sampled sequence, its advantage, and (when rollouts are reused) the log-probabilities
/// π_old of its completion tokens.
public struct RolloutBatch: Sendable {
    public var prompts: [[Int]]
    public var completions: [[Int]]
    public var advantages: [Double]
    /// Per sequence, per completion token; nil: the current policy's own (ratio 1).
    public var oldLogProbabilities: [[Double]]?
    /// The completion lengths of every sequence of the step, which the loss normalisers count
    /// (`PolicyObjective.tokenWeight`); more than `completionLengths` once sequences that carry
    /// no gradient are left out (`keeping`).
    public private(set) var stepCompletionLengths: [Int]

    public init(prompts: [[Int]], completions: [[Int]], advantages: [Double], oldLogProbabilities: [[Double]]? = nil) {
        precondition(prompts.count == completions.count && completions.count == advantages.count, "one prompt, completion and advantage per sequence")
        self.prompts = prompts; self.completions = completions; self.advantages = advantages
        self.oldLogProbabilities = oldLogProbabilities
        stepCompletionLengths = completions.map(\.count)
    }

    public var count: Int { prompts.count }
    public var completionLengths: [Int] { completions.map(\.count) }

    /// The listed sequences only, normalised as the whole step still (for sequences left out
    /// because their terms are zero whatever the parameters: `RLTrainer`).
    public func keeping(_ indices: [Int]) -> RolloutBatch {
        var kept = RolloutBatch(prompts: indices.map { prompts[$0] }, completions: indices.map { completions[$0] },
                                advantages: indices.map { advantages[$0] },
                                oldLogProbabilities: oldLogProbabilities.map { old in indices.map { old[$0] } })
        kept.stepCompletionLengths = stepCompletionLengths
        return kept
    }
}

/// What one pass measured, over the completion tokens of the batch.
public struct PolicyGradientReport: Sendable {
    /// L = Σ_i Σ_t w_i ℓ_{i,t} (methods.md §1; `PolicyObjective.tokenTerm`).
    public var loss: Double
    /// log π of every completion token under the current parameters, per sequence.
    public var logProbabilities: [[Double]]
    public var tokens: Int
    /// Mean entropy of π over completion positions, nats.
    public var meanEntropy: Double
    /// Mean k3 estimate of KL(π ‖ π_ref) per token (0 when β = 0: not computed).
    public var meanKL: Double
    /// Fraction of completion tokens whose gradient clipping cut.
    public var clippedFraction: Double
}

/// One forward + backward pass of the policy-gradient objective over a rollout batch, in
/// micro-batches: each completion token's coefficient c = −w · dℓ/d log π enters
/// `TokenDistribution.chosenLogProbabilities`, so the gradient reaching the logits is
/// c (softmax − onehot), and the backward pass takes it into whatever `trainable` is. The
/// parameters' gradients are accumulated into, not zeroed.
public enum PolicyGradient {
    /// Under MPI (`group` of several ranks) each rank takes a contiguous share of the micro-batches;
    /// the gradients and the report are the same bits as one process's (`MicroBatchReduction`).
    public static func accumulate(model: TransformerModel, trainable: any Trainable, referenceModel: TransformerModel?,
                                  batch: RolloutBatch, objective: PolicyObjective, microBatchSize: Int,
                                  maxCompletionLength: Int, group: ProcessGroup = .single) throws -> PolicyGradientReport {
        let lengths = batch.completionLengths
        for (i, p) in batch.prompts.enumerated() where p.isEmpty {
            throw WorkbenchError("sequence \(i) has an empty prompt: a completion needs a token to be predicted from")
        }
        var hooks = ForwardHooks()
        trainable.attach(to: &hooks)
        var backwardOptions = BackwardOptions()
        trainable.prepare(&backwardOptions)
        let V = model.config.vocabSize
        let micro = max(1, microBatchSize)
        let microBatches = (batch.count + micro - 1) / micro
        let parts = try MicroBatchReduction.run(count: microBatches, parameters: trainable.parameters, group: group) { k in
            let members = Array((k * micro)..<min(batch.count, (k + 1) * micro))
            var part = PolicyMicroBatch(logProbabilities: [[Double]](repeating: [], count: members.count))
            // Logits only for the rows that predict a completion token; the prompt rows' logits
            // would carry no gradient.
            let layout = CompletionBatch(prompts: members.map { batch.prompts[$0] }, completions: members.map { batch.completions[$0] })
            let tokenBatch = layout.tokens, logitRows = layout.logitRows, tokenOf = layout.tokenOf
            let labels: [Int?] = layout.labels
            var reference: [Double?] = []
            if objective.klCoefficient != 0, let referenceModel {
                let refLogits = try referenceModel.forward(tokenBatch, logits: .rows(logitRows)).logits!
                reference = labels.enumerated().map { row, label in
                    label.map { TokenDistribution.statistics(refLogits.data + row * V, count: V).logProbability(ofLogit: refLogits.data[row * V + $0]) }
                }
            }
            let record = ForwardRecord()
            let logits = try model.forward(tokenBatch, hooks: hooks, logits: .rows(logitRows), record: record).logits!
            let weights = members.map { objective.tokenWeight(sequence: $0, lengths: lengths, stepLengths: batch.stepCompletionLengths,
                                                              microBatch: members,
                                                              microBatches: microBatches, maxCompletionLength: maxCompletionLength) }
            func term(_ row: Int, _ lp: Double) -> (value: Double, derivative: Double, clipped: Bool) {
                let (b, j) = tokenOf[row]
                let i = members[b]
                return objective.tokenTerm(logProbability: lp, oldLogProbability: batch.oldLogProbabilities?[i][j] ?? lp,
                                           advantage: batch.advantages[i],
                                           referenceLogProbability: reference.isEmpty ? nil : reference[row])
            }
            let (logProbabilities, gradient) = TokenDistribution.chosenLogProbabilities(
                logits: logits, labels: labels, coefficient: { row, lp in -weights[tokenOf[row].member] * term(row, lp).derivative })
            for row in 0..<labels.count {
                guard let lp = logProbabilities[row] else { continue }
                let b = tokenOf[row].member
                let t = term(row, lp)
                part.loss += weights[b] * t.value
                part.logProbabilities[b].append(lp)
                if t.clipped { part.clipped += 1 }
                part.entropySum += TokenDistribution.statistics(logits.data + row * V, count: V).entropy
                if !reference.isEmpty, let ref = reference[row] {
                    part.klSum += TokenDistribution.k3(logProbability: lp, referenceLogProbability: ref).value
                }
            }
            try model.backward(record, logitGradient: gradient, logitRows: logitRows, hooks: hooks, options: backwardOptions)
            return part
        }
        var report = PolicyGradientReport(loss: 0, logProbabilities: [], tokens: lengths.reduce(0, +), meanEntropy: 0, meanKL: 0,
                                          clippedFraction: 0)
        var entropySum = 0.0, klSum = 0.0, clippedCount = 0
        for part in parts {
            report.loss += part.loss
            report.logProbabilities += part.logProbabilities
            entropySum += part.entropySum
            klSum += part.klSum
            clippedCount += part.clipped
        }
        let n = Double(max(1, report.tokens))
        report.meanEntropy = entropySum / n
        report.meanKL = klSum / n
        report.clippedFraction = Double(clippedCount) / n
        return report
    }
}

/// One micro-batch's share of a `PolicyGradientReport`.
struct PolicyMicroBatch: MicroBatchPart {
    var loss = 0.0, entropySum = 0.0, klSum = 0.0, clipped = 0
    /// Per member sequence, per completion token.
    var logProbabilities: [[Double]]

    init(logProbabilities: [[Double]]) { self.logProbabilities = logProbabilities }

    func write(to message: inout MessageWriter) {
        message.append(loss); message.append(entropySum); message.append(klSum); message.append(Int64(clipped))
        message.append(Int64(logProbabilities.count))
        for sequence in logProbabilities { message.append(sequence) }
    }

    init(from message: inout MessageReader) throws {
        loss = try message.read(); entropySum = try message.read(); klSum = try message.read()
        clipped = Int(try message.read(Int64.self))
        logProbabilities = try (0..<Int(try message.read(Int64.self))).map { _ in try message.readArray(Double.self) }
    }
}
