import Foundation

/// Recycles large float buffers. A training step or a long forward pass allocates the
/// same big activation and logit buffers every time; returned to the system, each new
/// allocation page-faults and the kernel zeroes it page by page (a sixth of a training
/// step on the 0.5B benchmark). Kept here, a buffer of the same size is reused and
/// zeroed in user space instead. Buffers come in size classes (four per power of two, so
/// at most 19% larger than asked for): passes whose shapes vary from call to call (RL
/// rollouts of different lengths) reuse each other's buffers instead of piling up one
/// buffer per distinct size. The pool holds at most `capacityBytes`.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    /// Buffers below this many floats (128 KiB, glibc's mmap threshold) go straight to malloc.
    static let minimumCount = 1 << 15

    let capacityBytes: Int
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var heldBytes = 0
    private let lock = NSLock()

    init() {
        // An eighth of the machine's memory, at most 4 GiB: what it keeps adds to the peak.
        capacityBytes = min(Int(ProcessInfo.processInfo.physicalMemory / 8), 4 << 30)
    }

    /// The size of the buffer that holds `count` floats: `count` itself below the pool's
    /// minimum, else rounded up to the next quarter step of its power of two.
    static func capacity(for count: Int) -> Int {
        guard count >= minimumCount else { return max(count, 1) }
        let base = 1 << (Int.bitWidth - 1 - count.leadingZeroBitCount)
        let step = base / 4
        return base + (count - base + step - 1) / step * step
    }

    /// A buffer for `count` floats, from the pool or newly allocated (contents undefined).
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let size = Self.capacity(for: count)
        if count >= Self.minimumCount {
            lock.lock()
            let p = free[size]?.popLast()
            if p != nil { heldBytes -= size * 4 }
            lock.unlock()
            if let p { return p }
        }
        return .allocate(capacity: size)
    }

    /// Keeps the buffer of `count` floats for reuse, or frees it when it is small or the pool is full.
    func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        let size = Self.capacity(for: count)
        if count >= Self.minimumCount {
            lock.lock()
            let kept = heldBytes + size * 4 <= capacityBytes
            if kept {
                free[size, default: []].append(pointer)
                heldBytes += size * 4
            }
            lock.unlock()
            if kept { return }
        }
        pointer.deallocate()
    }
}
