import Foundation

/// Keys and values of past positions for incremental decoding. Every sequence of
/// the batch advances by the same number of slots per call; padding slots are
/// remembered so attention skips them. K and V are stored per layer as
/// [batch, kvHeads, capacity, headDim] (after RoPE for K).
public final class KVCache {
    public private(set) var batchSize: Int
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

    public convenience init(config: ModelConfig, batchSize: Int, capacity: Int) {
        self.init(batchSize: batchSize, capacity: capacity, kvHeads: config.kvHeadCount, headDim: config.headDim,
                  layers: config.layerCount)
    }

    private init(batchSize: Int, capacity: Int, kvHeads: Int, headDim: Int, layers: Int) {
        self.batchSize = batchSize
        self.capacity = capacity
        self.kvHeads = kvHeads
        self.headDim = headDim
        let n = batchSize * kvHeads * capacity * headDim
        keys = (0..<layers).map { _ in Tensor(shape: [n], storage: FloatStorage(zeros: n)) }
        values = (0..<layers).map { _ in Tensor(shape: [n], storage: FloatStorage(zeros: n)) }
        slotIsReal = [Bool](repeating: false, count: batchSize * capacity)
        realTokens = [Int](repeating: 0, count: batchSize)
    }

    /// A cache of `sources.count` sequences whose sequence b is a copy of this cache's
    /// sequence sources[b]: a prompt prefilled once, then continued by several samples.
    func replicated(_ sources: [Int]) -> KVCache {
        let copy = KVCache(batchSize: sources.count, capacity: capacity, kvHeads: kvHeads, headDim: headDim, layers: keys.count)
        let block = kvHeads * capacity * headDim
        for (b, source) in sources.enumerated() {
            for layer in 0..<keys.count {
                (copy.keys[layer].mutableData + b * block).update(from: keys[layer].data + source * block, count: block)
                (copy.values[layer].mutableData + b * block).update(from: values[layer].data + source * block, count: block)
            }
            for s in 0..<capacity { copy.slotIsReal[b * capacity + s] = slotIsReal[source * capacity + s] }
            copy.realTokens[b] = realTokens[source]
        }
        copy.length = length
        copy.promptLengths = promptLengths.map { lengths in sources.map { lengths[$0] } }
        return copy
    }

    /// Keeps only the listed sequences (ascending), as sequences 0..<rows.count, in place:
    /// generation drops the sequences that have finished, so later steps compute only the
    /// others. Each kept block moves to a lower or equal index, so copying in order is safe.
    func compact(keeping rows: [Int]) {
        precondition(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 } && (rows.last ?? -1) < batchSize,
                     "rows to keep must be ascending sequences of the cache")
        // Only the filled slots move: each KV head's first `length` rows of its [capacity, headDim]
        // block (a rollout's cache is mostly empty slots until its last steps).
        let (headBlock, filled) = (capacity * headDim, length * headDim)
        for (b, source) in rows.enumerated() where b != source {
            for layer in 0..<keys.count {
                for head in 0..<kvHeads {
                    let (to, from) = ((b * kvHeads + head) * headBlock, (source * kvHeads + head) * headBlock)
                    (keys[layer].mutableData + to).update(from: keys[layer].data + from, count: filled)
                    (values[layer].mutableData + to).update(from: values[layer].data + from, count: filled)
                }
            }
            for s in 0..<capacity { slotIsReal[b * capacity + s] = slotIsReal[source * capacity + s] }
        }
        slotIsReal.removeLast((batchSize - rows.count) * capacity)
        realTokens = rows.map { realTokens[$0] }
        promptLengths = promptLengths.map { lengths in rows.map { lengths[$0] } }
        batchSize = rows.count
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
