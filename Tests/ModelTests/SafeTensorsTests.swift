import Foundation
import Model
import XCTest

/// Builds safetensors files byte by byte so every validation rule can be broken on purpose.
enum SafeTensorsBuilder {
    static func file(header: String, data: [UInt8], headerLengthOverride: UInt64? = nil) -> Data {
        var out = Data()
        var n = (headerLengthOverride ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    static func f32Bytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }
}

final class SafeTensorsTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ data: Data, _ name: String = "t.safetensors") -> String {
        let p = (dir as NSString).appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: p, contents: data)
        return p
    }

    func assertRejects(_ data: Data, containing fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = write(data)
        XCTAssertThrowsError(try SafeTensorsFile(path: p), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(p + ": "), "error should name the file: \(text)", file: file, line: line)
            XCTAssertTrue(text.contains(fragment), "'\(text)' should mention '\(fragment)'", file: file, line: line)
        }
    }

    func testReadsF32F16BF16() throws {
        let f32 = SafeTensorsBuilder.f32Bytes([1.5, -2, 3.25])
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0]          // 1.0, -2.0
        let bf16: [UInt8] = [0x80, 0x3F, 0x40, 0x40]         // 1.0, 3.0
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},"c":{"dtype":"BF16","shape":[1,2],"data_offsets":[16,20]}}"#
        let f = try SafeTensorsFile(path: write(SafeTensorsBuilder.file(header: header, data: f32 + f16 + bf16)))
        XCTAssertEqual(f.metadata["format"], "pt")
        XCTAssertEqual(try f.floatTensor("a").values, [1.5, -2, 3.25])
        XCTAssertEqual(try f.floatTensor("b").values, [1, -2])
        let c = try f.floatTensor("c")
        XCTAssertEqual(c.shape, [1, 2])
        XCTAssertEqual(c.values, [1, 3])
    }

    func testUnalignedF32IsCopiedCorrectly() throws {
        // A 1-byte U8 tensor first puts the F32 data at an odd address.
        let header = #"{"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#
        let f = try SafeTensorsFile(path: write(SafeTensorsBuilder.file(header: header, data: [7] + SafeTensorsBuilder.f32Bytes([0.5, 4]))))
        XCTAssertEqual(try f.floatTensor("a").values, [0.5, 4])
        XCTAssertThrowsError(try f.floatTensor("u")) { XCTAssertTrue("\($0)".contains("only F32, F16 and BF16")) }
        XCTAssertThrowsError(try f.floatTensor("missing")) { XCTAssertTrue("\($0)".contains("missing tensor 'missing'")) }
    }

    /// Inputs found by the fuzzer (scripts/fuzz.sh) that once crashed the reader: each is now
    /// refused with an error. header-length-2pow63: a header length ≥ 2^63 trapped converting to Int.
    func testFuzzRegressionsAreRefused() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/regressions/FuzzSafeTensors")
        let inputs = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertFalse(inputs.isEmpty)
        for name in inputs {
            XCTAssertThrowsError(try SafeTensorsFile(path: dir.appendingPathComponent(name).path), name)
        }
    }

    func testValidationErrors() {
        let ok = SafeTensorsBuilder.f32Bytes([1, 2])
        assertRejects(Data([1, 2, 3]), containing: "shorter than its 8-byte header")
        assertRejects(SafeTensorsBuilder.file(header: "{}", data: [], headerLengthOverride: 200_000_000), containing: "exceeds the 100 MB limit")
        assertRejects(SafeTensorsBuilder.file(header: "{}", data: [], headerLengthOverride: 50), containing: "does not fit")
        assertRejects(SafeTensorsBuilder.file(header: "{nope", data: []), containing: "not a JSON object")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: ok), containing: "unknown dtype Q4")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: ok), containing: "needs 12 bytes")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, data: ok), containing: "non-negative")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: ok), containing: "hole")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: ok), containing: "overlaps")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: ok), containing: "truncated")
        assertRejects(SafeTensorsBuilder.file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: ok), containing: "trailing bytes")
    }

    func testMissingFileIsReported() {
        let p = (dir as NSString).appendingPathComponent("absent.safetensors")
        XCTAssertThrowsError(try SafeTensorsFile(path: p)) { XCTAssertEqual("\($0)", "\(p): no such file") }
    }
}
