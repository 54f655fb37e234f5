import CMPIShim
import Foundation
import Model

/// The processes of one job: every rank `mpirun` (or `srun`) started, or this process alone.
/// The long commands split their work by rank and meet here to combine it: sums are added
/// in rank order (never in arrival order), so a result does not depend on timing.
/// docs/scaling.md says what each command sends and how the results compare with one process.
public final class ProcessGroup: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    private let usesMPI: Bool

    /// One process, no MPI: every collective is the identity.
    public static let single = ProcessGroup(rank: 0, size: 1, usesMPI: false)

    /// This job's group, set by `start()`; one process until then.
    public private(set) static var world = ProcessGroup.single

    private init(rank: Int, size: Int, usesMPI: Bool) {
        self.rank = rank; self.size = size; self.usesMPI = usesMPI
    }

    public var isRoot: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// Whether a launcher started this process as one rank of an MPI job (Open MPI's mpirun,
    /// or srun with PMIx/PMI). WORKBENCH_MPI=0 turns MPI off even then.
    public static var launchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment["WORKBENCH_MPI"] == "0" { return false }
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// Initialises MPI when launched by an MPI launcher (otherwise does nothing: a plain run
    /// never touches MPI). Ranks sharing a machine split its cores between them unless
    /// WORKBENCH_THREADS says otherwise; call this before any parallel work.
    public static func start() throws {
        guard launchedByMPI, !world.usesMPI else { return }
        var rank: Int32 = 0, size: Int32 = 1
        try check(wb_mpi_init(&rank, &size), "MPI_Init")
        world = ProcessGroup(rank: Int(rank), size: Int(size), usesMPI: true)
        let environment = ProcessInfo.processInfo.environment
        if environment["WORKBENCH_THREADS"] == nil,
           let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1 {
            let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / local)
            setenv("WORKBENCH_THREADS", String(threads), 1)
        }
    }

    /// Ends MPI after a successful run (every rank must call it).
    public func finish() {
        if usesMPI { _ = wb_mpi_finalize() }
    }

    /// Stops every rank of the job after a failure on this one.
    public func abort(code: Int32) -> Never {
        if usesMPI { wb_mpi_abort(code) }
        exit(code)
    }

    // MARK: collectives

    public func barrier() throws {
        guard isDistributed else { return }
        try Self.check(wb_mpi_barrier(), "MPI_Barrier")
    }

    /// `bytes` bytes at `buffer` on `root` are copied into `buffer` on every rank.
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, from root: Int = 0) throws {
        guard isDistributed, bytes > 0 else { return }
        try Self.check(wb_mpi_broadcast(buffer, bytes, Int32(root)), "MPI_Bcast")
    }

    /// `root`'s data, on every rank.
    public func broadcast(_ data: Data, from root: Int = 0) throws -> Data {
        guard isDistributed else { return data }
        var count = Int64(data.count)
        try broadcast(&count, bytes: 8, from: root)
        var bytes = rank == root ? data : Data(count: Int(count))
        try bytes.withUnsafeMutableBytes { try broadcast($0.baseAddress!, bytes: Int(count), from: root) }
        return bytes
    }

    public func broadcast(_ values: inout [Float], from root: Int = 0) throws {
        try values.withUnsafeMutableBytes { try broadcast($0.baseAddress!, bytes: $0.count, from: root) }
    }

    /// Every rank's data, in rank order, on `root` (nil on the others).
    public func gather(_ data: Data, to root: Int = 0) throws -> [Data]? {
        var all: [Data] = []
        try gather(data, to: root) { _, part in all.append(part) }
        return rank == root ? all : nil
    }

    /// On `root`, `body(rank, data)` for every rank in rank order, each received only when its
    /// turn comes (so root never holds more than one other rank's data); the others send theirs.
    public func gather(_ data: Data, to root: Int = 0, _ body: (Int, Data) throws -> Void) throws {
        guard isDistributed else { return try body(0, data) }
        guard rank == root else {
            var count = Int64(data.count)
            try Self.check(wb_mpi_send(&count, 8, Int32(root), 0), "MPI_Send")
            try data.withUnsafeBytes { try Self.check(wb_mpi_send($0.baseAddress, data.count, Int32(root), 0), "MPI_Send") }
            return
        }
        for r in 0..<size {
            if r == rank { try body(r, data); continue }
            var count: Int64 = 0
            try Self.check(wb_mpi_receive(&count, 8, Int32(r), 0), "MPI_Recv")
            var bytes = Data(count: Int(count))
            try bytes.withUnsafeMutableBytes { try Self.check(wb_mpi_receive($0.baseAddress, Int(count), Int32(r), 0), "MPI_Recv") }
            try body(r, bytes)
        }
    }

    /// Every rank's data, in rank order, on every rank.
    public func allGather(_ data: Data) throws -> [Data] {
        guard isDistributed else { return [data] }
        let parts = try gather(data)
        var packed = Data()
        if let parts {
            for part in parts { withUnsafeBytes(of: Int64(part.count)) { packed.append(contentsOf: $0) } }
            for part in parts { packed.append(part) }
        }
        packed = try broadcast(packed)
        var offset = 8 * size
        return (0..<size).map { r in
            let count = packed.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 8 * r, as: Int64.self)) }
            defer { offset += count }
            return packed.subdata(in: offset..<(offset + count))
        }
    }

    /// Element-wise sum of every rank's `count` values, added in rank order
    /// ((v₀ + v₁) + v₂ …), written over `values` on `root`, or on every rank when `root` is nil.
    /// Streams in chunks, so it needs no second copy of the buffer.
    public func sumInRankOrder(_ values: UnsafeMutablePointer<Double>, count: Int, root: Int? = nil) throws {
        guard isDistributed, count > 0 else { return }
        let target = root ?? 0
        let chunk = 1 << 20
        if rank == target {
            let total = UnsafeMutablePointer<Double>.allocate(capacity: min(chunk, count))
            let incoming = UnsafeMutablePointer<Double>.allocate(capacity: min(chunk, count))
            defer { total.deallocate(); incoming.deallocate() }
            for start in stride(from: 0, to: count, by: chunk) {
                let n = min(chunk, count - start)
                for r in 0..<size {
                    let part: UnsafeMutablePointer<Double>
                    if r == rank { part = values + start } else {
                        try Self.check(wb_mpi_receive(incoming, n * 8, Int32(r), 0), "MPI_Recv")
                        part = incoming
                    }
                    if r == 0 { total.update(from: part, count: n) } else { for i in 0..<n { total[i] += part[i] } }
                }
                (values + start).update(from: total, count: n)
            }
        } else {
            for start in stride(from: 0, to: count, by: chunk) {
                try Self.check(wb_mpi_send(values + start, min(chunk, count - start) * 8, Int32(target), 0), "MPI_Send")
            }
        }
        if root == nil { try broadcast(values, bytes: count * 8, from: target) }
    }

    public func sumInRankOrder(_ values: inout [Double], root: Int? = nil) throws {
        try values.withUnsafeMutableBufferPointer { try sumInRankOrder($0.baseAddress!, count: $0.count, root: root) }
    }

    /// The sum of an integer over all ranks, on every rank.
    public func sum(_ value: Int) throws -> Int {
        var total = [Double(value)]
        try sumInRankOrder(&total)
        return Int(total[0])
    }

    private static func check(_ status: Int32, _ call: String) throws {
        guard status != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        wb_mpi_error_text(status, &text, 512)
        throw WorkbenchError("\(call) failed: \(String(cString: text))")
    }
}

extension ProcessGroup {
    /// This rank's contiguous share of `count` items: rank r takes [r·count/size, (r+1)·count/size).
    public func share(of count: Int) -> Range<Int> {
        (rank * count / size)..<((rank + 1) * count / size)
    }
}
