import Foundation

/// AdamW (Loshchilov & Hutter): m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
/// θ ← θ − lr (m̂ / (√v̂ + ε) + λ θ) with bias-corrected m̂, v̂. Weight decay λ applies
/// to the parameters that say they decay (`Parameter.decays`).
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float
    public private(set) var step = 0
    /// First and second moments by parameter name.
    public private(set) var moments: [String: (m: Tensor, v: Tensor)] = [:]

    public init(weightDecay: Float = 0.1, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8) {
        self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
    }

    /// One update of every parameter from its gradient at learning rate `lr`.
    public func update(_ parameters: [Parameter], lr: Float) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for parameter in parameters {
            if moments[parameter.name] == nil {
                moments[parameter.name] = (Tensor(zeros: parameter.value.shape), Tensor(zeros: parameter.value.shape))
            }
            let (mT, vT) = moments[parameter.name]!
            let decay = parameter.decays ? weightDecay : 0
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            let p = parameter.value.mutableData, g = parameter.gradient.data, m = mT.mutableData, v = vT.mutableData
            Parallel.forEachChunk(parameter.value.count, costPerItem: 16) { range in
                for i in range {
                    m[i] = b1 * m[i] + (1 - b1) * g[i]
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                    let update = (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                    p[i] -= lr * (update + decay * p[i])
                }
            }
        }
    }

    /// Restores the state saved from `moments` and `step`.
    public func restore(step: Int, moments: [String: (m: Tensor, v: Tensor)]) {
        self.step = step
        self.moments = moments
    }
}

/// Linear warm-up to `peak`, then cosine decay to `peak × minRatio` at `total` steps
/// (`minRatio` 1: constant after the warm-up).
public struct LearningRateSchedule: Sendable, Codable {
    public var peak: Float
    public var warmup: Int
    public var total: Int
    public var minRatio: Float

    public init(peak: Float, warmup: Int, total: Int, minRatio: Float = 0.1) {
        self.peak = peak; self.warmup = warmup; self.total = total; self.minRatio = minRatio
    }

    /// Warm-up, then constant.
    public static func constant(_ peak: Float, warmup: Int = 0) -> LearningRateSchedule {
        LearningRateSchedule(peak: peak, warmup: warmup, total: warmup, minRatio: 1)
    }

    /// The rate for step `s` (0-based).
    public func rate(at s: Int) -> Float {
        if s < warmup { return peak * Float(s + 1) / Float(warmup) }
        let progress = min(1, Float(s - warmup) / Float(max(1, total - warmup)))
        return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + cos(Float.pi * progress)))
    }
}
