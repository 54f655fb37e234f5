import Foundation
import Formats
import FuzzReaders
import Model
import XCTest

/// Every input the fuzzers found (Fuzz/regressions/TARGET/, docs/testing.md "Fuzzing") goes
/// through its target's reader again: a crash or trap fails the suite. The ones that crashed
/// are also checked to be refused with a clear error.
final class FuzzRegressionTests: XCTestCase {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions").path

    func testEveryRegressionInputIsReadWithoutCrashing() throws {
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.regressions).sorted()
        XCTAssertTrue(Set(targets).isSubset(of: FuzzReaders.all.keys), "every regression directory is named after a fuzz target")
        var replayed = 0
        for target in targets {
            let reader = try XCTUnwrap(FuzzReaders.all[target], target)
            let dir = Self.regressions + "/" + target
            for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
                reader(try readFile(dir + "/" + name))
                replayed += 1
            }
        }
        XCTAssertGreaterThanOrEqual(replayed, 5)
    }

    /// A GGUF string length of 2^63 or more trapped converting to Int; every stated count is
    /// now checked against the bytes left.
    func testLyingGGUFCountsAreRefused() throws {
        let input = try readFile(Self.regressions + "/FuzzVectorFiles/gguf-string-length-2pow63")
        let path = NSTemporaryDirectory() + "regression-\(UUID().uuidString).gguf"
        try input.dropFirst().write(to: URL(fileURLWithPath: path))   // the first byte picks the format
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try TransformerModel.load(directory: DefaultModel.directory).config
        XCTAssertThrowsError(try VectorFile.load(path, config: config)) {
            XCTAssertTrue("\($0)".contains("more than the file's"), "\($0)")
        }
    }

    /// An HDF5 dataset whose header claims 2^60 values made the reader allocate them; a shape
    /// is now checked against the bytes stored for the dataset first.
    func testLyingHDF5ShapesAreRefusedBeforeAllocating() throws {
        let input = try readFile(Self.regressions + "/FuzzResultFiles/vector-hdf5-dataset-claims-2pow60-values")
        let path = NSTemporaryDirectory() + "regression-\(UUID().uuidString).h5"
        try input.dropFirst().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try TransformerModel.load(directory: DefaultModel.directory).config
        XCTAssertThrowsError(try VectorFile.load(path + ":/vectors", config: config)) {
            XCTAssertTrue("\($0)".contains("stored bytes can hold") || "\($0)".contains("more than 2^31"), "\($0)")
        }
    }

    /// Empty inputs leaked a buffer in Foundation's FileManager.contents; the readers now read
    /// with POSIX calls and refuse an empty file with a message.
    func testEmptyFilesAreRefused() throws {
        let path = NSTemporaryDirectory() + "regression-\(UUID().uuidString).json"
        FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try readFile(path), Data())
        XCTAssertThrowsError(try ModelConfig(json: try readFile(path), path: path))
    }
}
