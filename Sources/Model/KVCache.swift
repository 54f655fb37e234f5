import Foundation

/// Keys and values of past positions for incremental decoding. Every sequence of
/// the batch advances by the same number of slots per call; padding slots are
/// remembered so attention skips them. K and V are stored per layer as
/// [batch, kvHeads, capacity, headDim] (after RoPE for K).
public final class KVCache {
    public let batchSize: Int
    public let capacity: Int
    let kvHeads: Int
    let headDim: Int
    var keys: [Tensor]
    var values: [Tensor]
    /// slotIsReal[b * capacity + s]
    var slotIsReal: [Bool]
    /// Slots filled so far (the same for every sequence).
    public private(set) var length = 0
    /// Real (non-padding) tokens seen so far per sequence: the next RoPE position.
    public private(set) var realTokens: [Int]
    /// Prompt length per sequence, fixed by the first call (the prefill).
    public internal(set) var promptLengths: [Int]?

    public init(config: ModelConfig, batchSize: Int, capacity: Int) {
        self.batchSize = batchSize
        self.capacity = capacity
        kvHeads = config.kvHeadCount
        headDim = config.headDim
        let n = batchSize * config.kvHeadCount * capacity * config.headDim
        keys = (0..<config.layerCount).map { _ in Tensor(shape: [n], storage: FloatStorage(zeros: n)) }
        values = (0..<config.layerCount).map { _ in Tensor(shape: [n], storage: FloatStorage(zeros: n)) }
        slotIsReal = [Bool](repeating: false, count: batchSize * capacity)
        realTokens = [Int](repeating: 0, count: batchSize)
    }

    /// Reserves `count` new slots for the rows described by `isReal` ([batch, count]),
    /// returning the positions the new tokens take. Called once per forward pass,
    /// before the layers run.
    func append(isReal: [Bool], count: Int) throws -> [Int] {
        guard length + count <= capacity else {
            throw WorkbenchError("KV cache full: \(length) + \(count) positions exceed its capacity of \(capacity)")
        }
        var positions = [Int](repeating: 0, count: batchSize * count)
        for b in 0..<batchSize {
            for t in 0..<count {
                let real = isReal[b * count + t]
                slotIsReal[b * capacity + length + t] = real
                positions[b * count + t] = realTokens[b]
                if real { realTokens[b] += 1 }
            }
        }
        length += count
        return positions
    }
}
