import Foundation

/// Recycles large float buffers. A training step or a long forward pass allocates the
/// same big activation and logit buffers every time; returned to the system, each new
/// allocation page-faults and the kernel zeroes it page by page (a sixth of a training
/// step on the 0.5B benchmark). Kept here, a buffer of the same size is reused and
/// zeroed in user space instead. The pool holds at most `capacityBytes`.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    /// Buffers below this many floats (1 MiB) go straight to malloc.
    static let minimumCount = 1 << 18

    let capacityBytes: Int
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var heldBytes = 0
    private let lock = NSLock()

    init() {
        // A quarter of the machine's memory, at most 8 GiB.
        capacityBytes = min(Int(ProcessInfo.processInfo.physicalMemory / 4), 8 << 30)
    }

    /// A buffer of exactly `count` floats (contents undefined), or nil when none is kept.
    func take(_ count: Int) -> UnsafeMutablePointer<Float>? {
        guard count >= Self.minimumCount else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let p = free[count]?.popLast() else { return nil }
        heldBytes -= count * 4
        return p
    }

    /// Keeps `pointer` for reuse; false when the pool is full (the caller frees it).
    func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        guard count >= Self.minimumCount else { return false }
        lock.lock(); defer { lock.unlock() }
        guard heldBytes + count * 4 <= capacityBytes else { return false }
        free[count, default: []].append(pointer)
        heldBytes += count * 4
        return true
    }
}
