import Foundation

/// The one optimisation loop: pretraining, the tuned lens and the RL/SFT trainers all
/// step through it with their own `Trainable` and their own way of filling the gradients.
/// A step zeroes the gradients, lets the caller accumulate them over its micro-batches,
/// clips them by their global norm, applies AdamW at the scheduled rate and calls the
/// trainable's `afterUpdate`. A checkpoint holds the parameters, AdamW's moments and step,
/// the per-step history and whatever the caller adds (RNG states, data position), so that
/// a resumed run continues bit for bit.
public final class OptimizationLoop {
    public let trainable: any Trainable
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    /// Clip the global gradient norm to this (0 = off).
    public let clipNorm: Float
    public private(set) var completedSteps = 0
    /// One entry per completed step, kept in checkpoints.
    public private(set) var history: [StepReport] = []

    public struct StepReport: Sendable, Equatable {
        public var step: Int
        /// What the caller's gradient pass returned, summed over micro-batches.
        public var loss: Double
        public var learningRate: Float
        /// Before clipping.
        public var gradientNorm: Double
    }

    public init(trainable: any Trainable, optimizer: AdamW, schedule: LearningRateSchedule, clipNorm: Float) {
        self.trainable = trainable
        self.optimizer = optimizer
        self.schedule = schedule
        self.clipNorm = clipNorm
    }

    /// Runs one update. `accumulate(i)` adds micro-batch i's gradients into the parameters'
    /// gradients and returns its share of the loss. A non-finite loss or gradient stops the
    /// run with an error before any parameter is touched.
    @discardableResult
    public func step(microBatches: Int = 1, _ accumulate: (Int) throws -> Double) throws -> StepReport {
        let parameters = trainable.parameters
        parameters.zeroGradients()
        var loss = 0.0
        for micro in 0..<microBatches { loss += try accumulate(micro) }
        let norm = parameters.squaredGradientNorm().squareRoot()
        guard loss.isFinite, norm.isFinite else {
            throw WorkbenchError("step \(completedSteps + 1): the loss (\(loss)) or the gradient norm (\(norm)) is not finite; parameters left as they were")
        }
        if clipNorm > 0, norm > Double(clipNorm) { parameters.scaleGradients(by: Float(Double(clipNorm) / norm)) }
        let lr = schedule.rate(at: completedSteps)
        optimizer.update(parameters, lr: lr)
        trainable.afterUpdate()
        completedSteps += 1
        let report = StepReport(step: completedSteps, loss: loss, learningRate: lr, gradientNorm: norm)
        history.append(report)
        return report
    }

    // MARK: checkpoints

    static let historyName = "loop.history"

    /// Writes `file` (safetensors, atomically): every parameter under its name, AdamW's
    /// moments as `adam.m.NAME` / `adam.v.NAME`, the history as [steps, 3] (loss, rate,
    /// gradient norm), metadata `step`, `adam_step` and the caller's `extra` entries.
    public func saveCheckpoint(to file: String, extra: [String: String] = [:]) throws {
        var tensors: [(name: String, tensor: Tensor)] = trainable.parameters.map { ($0.name, $0.value) }
        for (name, mv) in optimizer.moments.sorted(by: { $0.key < $1.key }) {
            tensors.append(("adam.m." + name, mv.m))
            tensors.append(("adam.v." + name, mv.v))
        }
        if !history.isEmpty {
            tensors.append((Self.historyName, Tensor(shape: [history.count, 3], values: history.flatMap {
                [Float($0.loss), $0.learningRate, Float($0.gradientNorm)]
            })))
        }
        var metadata = extra
        metadata["step"] = String(completedSteps)
        metadata["adam_step"] = String(optimizer.step)
        try makeDirectory((file as NSString).deletingLastPathComponent)
        try SafeTensorsWriter.write(tensors, to: file, metadata: metadata)
    }

    /// Restores a checkpoint written by `saveCheckpoint` and returns its metadata (with the
    /// caller's extra entries). A history missing from older checkpoints restores as empty.
    @discardableResult
    public func restoreCheckpoint(from file: String) throws -> [String: String] {
        let saved = try SafeTensorsFile(path: file)
        guard let step = saved.metadata["step"].flatMap(Int.init), let adamStep = saved.metadata["adam_step"].flatMap(Int.init) else {
            throw WorkbenchError("checkpoint has no step count", file: file)
        }
        var moments: [String: (m: Tensor, v: Tensor)] = [:]
        for p in trainable.parameters {
            guard saved.tensors[p.name] != nil else { throw WorkbenchError("checkpoint has no tensor '\(p.name)'", file: file) }
            let value = try saved.floatTensor(p.name)
            guard value.shape == p.value.shape else {
                throw WorkbenchError("checkpoint tensor '\(p.name)' has shape \(value.shape), the run's \(p.value.shape)", file: file)
            }
            p.value.mutableData.update(from: value.data, count: value.count)
            if saved.tensors["adam.m." + p.name] != nil {
                let m = try saved.floatTensor("adam.m." + p.name), v = try saved.floatTensor("adam.v." + p.name)
                moments[p.name] = (Tensor(shape: p.value.shape, values: m.values), Tensor(shape: p.value.shape, values: v.values))
            }
        }
        optimizer.restore(step: adamStep, moments: moments)
        completedSteps = step
        history = []
        if saved.tensors[Self.historyName] != nil {
            let h = try saved.floatTensor(Self.historyName).values
            history = (0..<min(step, h.count / 3)).map {
                StepReport(step: $0 + 1, loss: Double(h[3 * $0]), learningRate: h[3 * $0 + 1], gradientNorm: Double(h[3 * $0 + 2]))
            }
        }
        return saved.metadata
    }
}
