import CKernels
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
        // The pool (Sources/CKernels/worker_pool.c) keeps its threads spinning briefly between
        // regions: a decoding step runs some 300 regions of tens of microseconds each, and waking
        // sleeping threads for each (Dispatch's concurrentPerform) cost 15–20% of sampling's speed.
        withoutActuallyEscaping(body) { body in
            var job = ChunkJob(body: body, count: count, chunk: chunk)
            withUnsafeMutablePointer(to: &job) { pointer in
                wb_pool_run(Int32(workers), Int32(workers), { context, part in
                    let job = context!.assumingMemoryBound(to: ChunkJob.self).pointee
                    let start = Int(part) * job.chunk
                    let end = min(job.count, start + job.chunk)
                    if start < end { job.body(start..<end) }
                }, pointer)
            }
        }
    }

    /// What the pool's C callback needs to run one chunk of `forEachChunk`.
    private struct ChunkJob {
        let body: (Range<Int>) -> Void
        let count: Int
        let chunk: Int
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
