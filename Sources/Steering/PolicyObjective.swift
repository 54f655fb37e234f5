import Model
import Foundation

/// How a completion's advantage is computed from the rewards of its group (the G samples of
/// one prompt).
public enum AdvantageEstimator: String, Sendable, Codable, CaseIterable {
    /// A_i = r_i − mean(r) (GRPO).
    case groupMean = "group-mean"
    /// A_i = r_i − mean_{j≠i} r_j (RLOO; the published steering code).
    case rloo
}

/// Division of the advantages by a standard deviation (TRL's `scale_rewards`).
public enum AdvantageScaling: String, Sendable, Codable, CaseIterable {
    /// By the group's reward std + 1e-4, as TRL does.
    case group
    /// By the std of every reward in the step + 1e-4.
    case batch
    case none
}

/// How per-token terms are summed into the loss (TRL's `loss_type`).
public enum LossReduction: String, Sendable, Codable, CaseIterable {
    /// Mean over each sequence's tokens, then mean over sequences.
    case grpo
    /// Sum ÷ completion tokens in the training micro-batch, averaged over the micro-batches
    /// (TRL divides by the gradient-accumulation steps).
    case bnpo
    /// Sum ÷ (sequences in the step × maximum completion length).
    case drGrpo = "dr-grpo"
    /// Sum ÷ completion tokens in the whole step.
    case dapo
}

/// An RL objective: advantages, their scaling, the reduction, PPO-style ratio clipping and
/// a k3 KL penalty (methods.md §1). The presets carry the names users know.
public struct PolicyObjective: Sendable, Codable, Equatable {
    public var advantage: AdvantageEstimator
    public var scaling: AdvantageScaling
    public var reduction: LossReduction
    /// Ratio clipping: a token's term stops contributing once ρ leaves [1 − low, 1 + high] in
    /// the direction its advantage pushes (only matters when rollouts are reused).
    public var clipLow: Double
    public var clipHigh: Double
    /// β of the β·k3 KL term against the frozen model (0 = off).
    public var klCoefficient: Double

    public init(advantage: AdvantageEstimator, scaling: AdvantageScaling, reduction: LossReduction,
                clipLow: Double = 0.2, clipHigh: Double = 0.2, klCoefficient: Double = 0) {
        self.advantage = advantage; self.scaling = scaling; self.reduction = reduction
        self.clipLow = clipLow; self.clipHigh = clipHigh; self.klCoefficient = klCoefficient
    }

    /// The presets: TRL's four loss types with group-mean advantages scaled by the group std
    /// (TRL's default), and the published steering code's RLOO.
    public static func preset(_ name: String) -> PolicyObjective? {
        switch name {
        case "grpo": return PolicyObjective(advantage: .groupMean, scaling: .group, reduction: .grpo)
        case "bnpo": return PolicyObjective(advantage: .groupMean, scaling: .group, reduction: .bnpo)
        case "dr-grpo": return PolicyObjective(advantage: .groupMean, scaling: .none, reduction: .drGrpo)
        case "dapo": return PolicyObjective(advantage: .groupMean, scaling: .group, reduction: .dapo)
        case "rloo": return PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo)
        default: return nil
        }
    }

    public static let presetNames = ["grpo", "bnpo", "dr-grpo", "dapo", "rloo"]

    /// Advantages for rewards laid out group by group ([groups × groupSize]).
    public func advantages(rewards: [Double], groupSize G: Int) -> [Double] {
        precondition(G >= 1 && rewards.count % G == 0, "rewards must come in whole groups")
        var out = [Double](repeating: 0, count: rewards.count)
        for start in stride(from: 0, to: rewards.count, by: G) {
            let group = Array(rewards[start..<(start + G)])
            let sum = group.reduce(0, +), mean = sum / Double(G)
            for i in 0..<G {
                switch advantage {
                case .groupMean: out[start + i] = group[i] - mean
                case .rloo: out[start + i] = G > 1 ? group[i] - (sum - group[i]) / Double(G - 1) : 0
                }
            }
            if scaling == .group {
                let std = Self.standardDeviation(group)
                for i in 0..<G { out[start + i] /= std + 1e-4 }
            }
        }
        if scaling == .batch {
            let std = Self.standardDeviation(rewards)
            for i in out.indices { out[i] /= std + 1e-4 }
        }
        return out
    }

    /// The unbiased (n − 1) standard deviation, as torch.std; 0 for fewer than 2 values.
    static func standardDeviation(_ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let mean = x.reduce(0, +) / Double(x.count)
        return (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)).squareRoot()
    }

    /// The weight w_{i,t} of each of sequence i's completion tokens in the loss
    /// L = Σ_i Σ_t w_i ℓ_{i,t}: `lengths` are the completion lengths of the sequences trained,
    /// `stepLengths` those of every sequence of the step (the normalisers count them all;
    /// nil: the same), `microBatch` the indices trained together and `microBatches` how many
    /// there are (for `bnpo`), `maxCompletionLength` the generation limit.
    public func tokenWeight(sequence i: Int, lengths: [Int], stepLengths: [Int]? = nil, microBatch: [Int],
                            microBatches: Int = 1, maxCompletionLength: Int) -> Double {
        let step = stepLengths ?? lengths
        switch reduction {
        case .grpo: return 1 / (Double(max(lengths[i], 1)) * Double(step.count))
        case .bnpo: return 1 / (Double(max(1, microBatch.reduce(0) { $0 + lengths[$1] })) * Double(max(1, microBatches)))
        case .drGrpo: return 1 / (Double(step.count) * Double(max(maxCompletionLength, 1)))
        case .dapo: return 1 / Double(max(1, step.reduce(0, +)))
        }
    }

    /// Whether a sequence with a zero advantage adds nothing to the loss or its gradient, for any
    /// parameters and in every iteration: with β = 0 its terms are −min(ρ·0, clip(ρ)·0) = 0. Such
    /// sequences can be left out of the training pass, their tokens still counted by the
    /// normalisers (`RolloutBatch.keeping`). Not with the KL term (it has a gradient at every
    /// token), nor with bnpo (its normaliser depends on which sequences share a micro-batch).
    public var zeroAdvantageCarriesNoGradient: Bool { klCoefficient == 0 && reduction != .bnpo }

    /// One completion token's term and its derivative in log π:
    /// ℓ = −min(ρA, clip(ρ, 1 − low, 1 + high) A) + β k3, with ρ = π / π_old. Returns the term,
    /// dℓ/d log π, and whether clipping cut the gradient.
    public func tokenTerm(logProbability lp: Double, oldLogProbability old: Double, advantage a: Double,
                          referenceLogProbability ref: Double?) -> (value: Double, derivative: Double, clipped: Bool) {
        let ratio = exp(lp - old)
        let clippedRatio = min(max(ratio, 1 - clipLow), 1 + clipHigh)
        let unclipped = ratio * a, bounded = clippedRatio * a
        // min picks the clipped branch (no gradient) only where it is strictly smaller.
        let clipped = bounded < unclipped
        var value = -min(unclipped, bounded)
        var derivative = clipped ? 0 : -ratio * a
        if klCoefficient != 0, let ref {
            let (k3, dk3) = TokenDistribution.k3(logProbability: lp, referenceLogProbability: ref)
            value += klCoefficient * k3
            derivative += klCoefficient * dk3
        }
        return (value, derivative, clipped)
    }
}
