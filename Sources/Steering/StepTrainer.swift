import Foundation
import Model

/// What `TrainingRun` drives: the RL trainer or the supervised one, each stepping one
/// `Trainable` through the one `OptimizationLoop`, with the same metrics, checkpoints and
/// resume (a checkpoint holds the parameters, AdamW's state, the stream position and every
/// step's metrics).
public protocol StepTrainer: AnyObject {
    var loop: OptimizationLoop { get }
    var trainable: any Trainable { get }
    var history: [StepMetrics] { get set }
    /// Next position in the stream of training records.
    var cursor: Int { get set }
    func step() throws -> StepMetrics
}

extension StepTrainer {
    public var completedSteps: Int { history.count }

    public func hooks() -> ForwardHooks { trainable.hooks() }

    /// Parameters, AdamW state, the stream position, every step's metrics and the caller's entries.
    public func saveCheckpoint(to file: String, extra: [String: String] = [:]) throws {
        let rows = history.map { [Double($0.step)] + $0.values }
        let json = try JSONSerialization.data(withJSONObject: rows)
        try loop.saveCheckpoint(to: file, extra: extra.merging(["rl_step": String(completedSteps), "rl_cursor": String(cursor),
                                                                "rl_metrics": String(decoding: json, as: UTF8.self)]) { $1 })
    }

    /// Restores a checkpoint; returns its metadata (with the caller's entries).
    @discardableResult
    public func restoreCheckpoint(from file: String) throws -> [String: String] {
        let metadata = try loop.restoreCheckpoint(from: file)
        guard let step = metadata["rl_step"].flatMap(Int.init), let position = metadata["rl_cursor"].flatMap(Int.init),
              let json = metadata["rl_metrics"],
              let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Double]], rows.count == step,
              rows.allSatisfy({ $0.count == StepMetrics.names.count + 1 }) else {
            throw WorkbenchError("not a training checkpoint (no step, stream position or metrics)", file: file)
        }
        cursor = position
        history = rows.map { StepMetrics(step: Int($0[0]), values: Array($0.dropFirst())) }
        return metadata
    }
}

/// The record at stream position `position` of `count` records: epoch e visits a seeded
/// permutation of all of them.
func streamIndex(_ position: Int, count n: Int, seed: UInt64) -> Int {
    let epoch = position / n
    var order = Array(0..<n)
    var g = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(epoch) &+ 17)
    g.shuffle(&order)
    return order[position % n]
}
