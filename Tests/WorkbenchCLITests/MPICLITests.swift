import Foundation
import Formats
import Model
import XCTest

/// The commands under `mpirun -n 2` against the same commands in one process
/// (docs/scaling.md): score files and RL parameters bit for bit, factors within the
/// float64 rounding of adding the ranks' sums in another order. Every process runs one
/// thread, since the matrix products' bits depend on the thread count (docs/testing.md).
extension CLITests {
    static let oneThread: [String: String] = ProcessInfo.processInfo.environment.merging(["WORKBENCH_THREADS": "1"]) { $1 }

    /// The command line that starts `tool` under `mpirun -n ranks` (its arguments follow).
    func mpirun(ranks: Int, tool: String) -> [String] {
        ["mpirun", "-n", String(ranks), "--oversubscribe"] + (getuid() == 0 ? ["--allow-run-as-root"] : [])
            + [(Self.binary as NSString).deletingLastPathComponent + "/" + tool]
    }

    /// `tool args` under `mpirun -n ranks` (Open MPI, from scripts/setup.sh).
    func runMPI(ranks: Int, tool: String, _ args: [String]) throws -> Run {
        let r = try launch("/usr/bin/env", mpirun(ranks: ranks, tool: tool) + args, environment: Self.oneThread)
        XCTAssertNotEqual(r.status, 127, "mpirun not found: scripts/setup.sh installs openmpi-bin")
        return r
    }

    func testInfluenceFitAndScoreUnderMPIMatchOneProcess() throws {
        let dir = NSTemporaryDirectory() + "mpi-influence-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeInfluenceInputs(to: dir, documents: 25, queries: 3)
        let fit = ["fit", "--docs", dir + "/docs.jsonl", "--max-length", "48", "--modules", "mlp"]

        let single = try run(fit + ["--out", dir + "/f1.h5"], environment: Self.oneThread, tool: "influence")
        XCTAssertEqual(single.status, 0, single.stderr)
        let ranks = try runMPI(ranks: 2, tool: "influence", fit + ["--out", dir + "/f2.h5"])
        XCTAssertEqual(ranks.status, 0, ranks.stderr)
        XCTAssertTrue(ranks.stdout.contains("on 25 sequences"), ranks.stdout)
        let (f1, f2) = (try HDF5Reader(path: dir + "/f1.h5"), try HDF5Reader(path: dir + "/f2.h5"))
        let modules = try f1.readStrings("modules")
        XCTAssertEqual(modules, try f2.readStrings("modules"))
        for module in modules {
            for name in ["lambda", "eigenvalues_a", "eigenvalues_s"] {
                let (a, b) = (try f1.readFloats(module + "/" + name).values, try f2.readFloats(module + "/" + name).values)
                let scale = a.map(abs).max()!
                let difference = zip(a, b).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(difference, 1e-6 * scale, "\(module)/\(name)")
            }
        }

        // Scores: every rank scores its slice with the same factors; one file, the same bits.
        let score = ["score", "--queries", dir + "/q.jsonl", "--docs", dir + "/docs.jsonl", "--max-length", "48",
                     "--batch-size", "4", "--per-module"]
        let s1 = try run(score + ["--factors", dir + "/f1.h5", "--out", dir + "/s1.h5"], environment: Self.oneThread, tool: "influence")
        XCTAssertEqual(s1.status, 0, s1.stderr)
        let s2 = try runMPI(ranks: 2, tool: "influence", score + ["--factors", dir + "/f1.h5", "--out", dir + "/s2.h5"])
        XCTAssertEqual(s2.status, 0, s2.stderr)
        let (a, b) = (try HDF5Reader(path: dir + "/s1.h5"), try HDF5Reader(path: dir + "/s2.h5"))
        XCTAssertEqual(try a.readStrings("doc_ids"), try b.readStrings("doc_ids"))
        for name in ["scores", "per_module"] {
            XCTAssertEqual(try a.readFloats(name).values.map(\.bitPattern), try b.readFloats(name).values.map(\.bitPattern), name)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") }
        XCTAssertEqual(leftovers, [], "partial files left behind")

        // The factors fitted by two ranks score like one process's, to float32 precision.
        let s3 = try run(score + ["--factors", dir + "/f2.h5", "--out", dir + "/s3.h5"], environment: Self.oneThread, tool: "influence")
        XCTAssertEqual(s3.status, 0, s3.stderr)
        let (x, y) = (try a.readFloats("scores").values, try HDF5Reader(path: dir + "/s3.h5").readFloats("scores").values)
        let scale = x.map(abs).max()!
        XCTAssertLessThanOrEqual(zip(x, y).map { abs($0 - $1) }.max()!, 1e-4 * scale)

        // --shard is the by-hand split; under mpirun the ranks split the corpus themselves.
        let both = try runMPI(ranks: 2, tool: "influence", score + ["--factors", dir + "/f1.h5", "--out", dir + "/x.h5", "--shard", "0/2"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("leave --shard out"), both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.h5"))
    }

    /// A 2-rank fit killed once rank 0 has saved pass 2, with rank 1's partial file then
    /// deleted (as if rank 1 had died before its own pass-2 save), resumes to the same bits as
    /// an uninterrupted 2-rank fit: the ranks agree to continue pass 2 with rank 0's factors.
    func testKilledFitUnderMPIResumesToTheSameBits() throws {
        let dir = NSTemporaryDirectory() + "mpi-fit-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeInfluenceInputs(to: dir, documents: 40, queries: 1)
        let fit = ["fit", "--docs", dir + "/docs.jsonl", "--max-length", "48", "--modules", "mlp", "--checkpoint-every", "0"]
        let reference = try runMPI(ranks: 2, tool: "influence", fit + ["--out", dir + "/reference.h5"])
        XCTAssertEqual(reference.status, 0, reference.stderr)

        let out = dir + "/killed.h5", rank0 = out + ".partial.0of2.h5", rank1 = out + ".partial.1of2.h5"
        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        launcher.arguments = mpirun(ranks: 2, tool: "influence") + fit + ["--out", out]
        launcher.environment = Self.oneThread
        launcher.standardOutput = FileHandle.nullDevice
        launcher.standardError = FileHandle.nullDevice
        try launcher.run()
        func savedPass() -> Double? { (try? HDF5Reader(path: rank0)).flatMap { try? $0.numberAttribute("pass") } ?? nil }
        while launcher.isRunning && savedPass() != 2 { usleep(5000) }
        // mpirun's children are the ranks: kill them first, then mpirun.
        let killer = Process()
        killer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        killer.arguments = ["pkill", "-KILL", "-P", String(launcher.processIdentifier)]
        try killer.run(); killer.waitUntilExit()
        kill(launcher.processIdentifier, SIGKILL)
        launcher.waitUntilExit()
        guard !FileManager.default.fileExists(atPath: out) else {
            throw XCTSkip("the fit finished before it could be killed")
        }
        XCTAssertEqual(savedPass(), 2)
        try? FileManager.default.removeItem(atPath: rank1)

        let resumed = try runMPI(ranks: 2, tool: "influence", fit + ["--out", out])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let (a, b) = (try HDF5Reader(path: dir + "/reference.h5"), try HDF5Reader(path: out))
        for module in try a.readStrings("modules") {
            for name in ["qa", "qs", "lambda", "eigenvalues_a", "eigenvalues_s"] {
                XCTAssertEqual(try a.readFloats(module + "/" + name).values.map(\.bitPattern),
                               try b.readFloats(module + "/" + name).values.map(\.bitPattern), "\(module)/\(name)")
            }
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") || $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "partial or temporary files left behind")
    }

    /// RL steps under mpirun -n 2 (prompts and micro-batches split between the ranks) leave the
    /// same parameters and optimiser state as one process, bit for bit, for vectors and LoRA.
    func testSteerTrainUnderMPIMatchesOneProcess() throws {
        let dir = NSTemporaryDirectory() + "mpi-steer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 16 sequences a step: 4 micro-batches for the vectors, 6 (the last short) for LoRA.
        for (method, extra) in [("vectors", ["--layers", "1,2,3", "--micro-batch", "4"]), ("lora", ["--micro-batch", "3"])] {
            let args = ["train", "--problems", rlProblems, "--steps", "3", "--prompts-per-step", "4", "--group", "4",
                        "--max-new", "32", "--lr", "0.01", "--method", method] + extra
            let single = try run(args + ["--out", dir + "/\(method)-1"], environment: Self.oneThread, tool: "steer")
            XCTAssertEqual(single.status, 0, single.stderr)
            let ranks = try runMPI(ranks: 2, tool: "steer", args + ["--out", dir + "/\(method)-2"])
            XCTAssertEqual(ranks.status, 0, ranks.stderr)
            let (a, b) = (try SafeTensorsFile(path: dir + "/\(method)-1/checkpoint.safetensors"),
                          try SafeTensorsFile(path: dir + "/\(method)-2/checkpoint.safetensors"))
            XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
            XCTAssertGreaterThan(a.tensors.count, 2)
            for name in a.tensors.keys {
                XCTAssertEqual(try a.floatTensor(name).values.map(\.bitPattern), try b.floatTensor(name).values.map(\.bitPattern),
                               "\(method): \(name)")
            }
        }
    }
}
