import Foundation
import Model
import XCTest

extension CLITests {
    /// A second `steer train` or `influence score` on an output another run is filling refuses
    /// at once with one line; the lock left by a killed run does not block the next one.
    func testASecondRunOnTheSameOutputRefuses() throws {
        let dir = NSTemporaryDirectory() + "lock-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/run"
        let args = ["train", "--problems", rlProblems, "--out", out, "--steps", "10000", "--prompts-per-step", "2", "--group", "2",
                    "--max-new", "8", "--layers", "1"]
        let first = Process()
        first.executableURL = URL(fileURLWithPath: (Self.binary as NSString).deletingLastPathComponent + "/steer")
        first.arguments = args
        first.standardError = FileHandle.nullDevice
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        // The lock file holds the holder's process id once the lock is taken.
        let lock = out + "/.lock"
        while first.isRunning && ((try? String(contentsOfFile: lock, encoding: .utf8)) ?? "").isEmpty { usleep(2000) }
        XCTAssertTrue(first.isRunning)
        let second = try run(args, tool: "steer")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        assertOneLineError(second, containing: "\(out): another run is writing here (process \(first.processIdentifier))")

        // The killed run's lock file is still there, unlocked: the next run takes it (and gets as
        // far as refusing other settings for this directory).
        XCTAssertTrue(FileManager.default.fileExists(atPath: lock))
        let third = try run(args.map { $0 == "10000" ? "3" : $0 }, tool: "steer")
        assertOneLineError(third, containing: "holds a run with other settings")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lock), "the lock file goes when the command ends")

        // influence score: OUT.lock beside the output, removed at the end.
        let docs = dir + "/docs.jsonl", queries = dir + "/q.jsonl"
        try writeInfluenceInputs(to: dir, documents: 4, queries: 1)
        FileManager.default.createFile(atPath: dir + "/s.h5.lock", contents: Data("12345\n".utf8))   // stale
        let scored = try run(["score", "--queries", queries, "--docs", docs, "--out", dir + "/s.h5", "--max-length", "32",
                              "--strategy", "identity", "--factors", "none"], tool: "influence")
        XCTAssertNotEqual(scored.status, 0)   // no such factors file: an error after the lock was taken
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/s.h5.lock"), "the lock file goes when the command ends")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/s.h5"))
    }
}
