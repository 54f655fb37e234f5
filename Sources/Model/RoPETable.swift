import Foundation

/// cos and sin of position × invFreq[i] for positions 0..<count, [count, invFreq.count] each,
/// computed once per set of frequencies and shared by every layer and call (the angles were
/// recomputed for every row of every call: 2–3% of a training step on the embedded model).
/// The values are those of computing each angle where it is used: cos(Float(p) · invFreq[i]).
final class RoPETable: @unchecked Sendable {
    let count: Int
    let cos: UnsafeMutablePointer<Float>
    let sin: UnsafeMutablePointer<Float>

    private init(count: Int, invFreq: [Float]) {
        let half = invFreq.count
        self.count = count
        cos = .allocate(capacity: max(1, count * half))
        sin = .allocate(capacity: max(1, count * half))
        for p in 0..<count {
            let position = Float(p)
            for i in 0..<half {
                let angle = position * invFreq[i]
                cos[p * half + i] = Foundation.cos(angle)
                sin[p * half + i] = Foundation.sin(angle)
            }
        }
    }

    deinit { cos.deallocate(); sin.deallocate() }

    nonisolated(unsafe) private static var tables: [[Float]: RoPETable] = [:]
    private static let lock = NSLock()

    /// A table with a row for every position in `positions` (grown, to a power of two, when a
    /// longer sequence comes). Positions must not be negative.
    static func covering(_ positions: [Int], invFreq: [Float]) -> RoPETable {
        let needed = (positions.max() ?? 0) + 1
        precondition(positions.allSatisfy { $0 >= 0 }, "RoPE positions must not be negative")
        lock.lock(); defer { lock.unlock() }
        if let table = tables[invFreq], table.count >= needed { return table }
        var count = 256
        while count < needed { count *= 2 }
        let table = RoPETable(count: count, invFreq: invFreq)
        tables[invFreq] = table
        return table
    }
}
