import Foundation

/// All multi-core work goes through this helper: norms, RoPE, softmax, sampling,
/// and the matrix products, whose column blocks each run single-threaded sgemm.
/// Chunks are contiguous so each worker walks memory in order; `body` receives a
/// half-open range of item indices.
package enum Parallel {
    /// Number of worker threads: the machine's cores, or WORKBENCH_THREADS when set.
    package static let workerCount: Int = {
        if let text = ProcessInfo.processInfo.environment["WORKBENCH_THREADS"], let n = Int(text), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body` over `0..<count`, split into at most `workerCount` contiguous
    /// chunks. Small jobs (`count * costPerItem` below a threshold) run inline so
    /// thread hand-off never dominates.
    package static func forEachChunk(_ count: Int, costPerItem: Int = 1,
                                    _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        _ = BLASRuntime.singleThreadedCalls   // OpenBLAS must not spawn threads inside our workers
        let workers = min(workerCount, count)
        if workers <= 1 || count * costPerItem < 32_768 {
            body(0..<count)
            return
        }
        let chunk = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
