import Foundation
import Model
import XCTest

/// Taking an output's lock removes the temporaries a killed run left there, and nothing else.
final class OutputLockTests: XCTestCase {
    func testTakingTheLockRemovesTheTemporariesOfAKilledRun() throws {
        let dir = NSTemporaryDirectory() + "output-lock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/run/checkpoint", withIntermediateDirectories: true)
        defer { OutputLock.releaseAll(); try? FileManager.default.removeItem(atPath: dir) }
        func touch(_ name: String) { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("x".utf8)) }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: dir + "/" + name) }

        // A run directory: every temporary inside it goes, subdirectories included.
        let runFiles = ["run/training.h5.tmp-4211", "run/checkpoint/checkpoint.safetensors.tmp-77", "run/notes.tmp-draft", "run/config.json"]
        runFiles.forEach(touch)
        try OutputLock.acquire(directory: dir + "/run")
        XCTAssertEqual(runFiles.map(exists), [false, false, true, true])

        // A file output: its own temporaries and those of the files named after it.
        let files = ["scores.h5.tmp-12", "scores.h5.partial.h5.tmp-13", "scores.h5.partial.1of2.h5.tmp-9", "scores.h5.partial.h5",
                     "other.h5.tmp-14", "scores.h5x.tmp-15", "scores.h5.tmp-"]
        files.forEach(touch)
        try OutputLock.acquire(dir + "/scores.h5.lock", for: dir + "/scores.h5")
        XCTAssertEqual(files.map(exists), [false, false, false, true, true, true, true])
    }
}
