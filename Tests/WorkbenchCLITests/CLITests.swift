import Foundation
import Model
import XCTest

/// End-to-end checks of the `workbench` executable: outputs, and one clear error
/// line with a non-zero exit for bad input.
final class CLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures").path

    /// The binary sits next to the test bundle in the build directory.
    static var binary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
        var dir = testBinary.deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("workbench").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("workbench").path
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func run(_ args: [String], environment: [String: String]? = nil) throws -> Run {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "no workbench binary at \(Self.binary)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func assertOneLineError(_ r: Run, containing fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected one error line, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(fragment), "'\(r.stderr)' should mention '\(fragment)'", file: file, line: line)
    }

    func testInfoDescribesModelAndKernel() throws {
        let r = try run(["info", Self.fixtures + "/qwen2_bias_tied_f16", "--no-measure"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("qwen2"))
        XCTAssertTrue(r.stdout.contains("F16"))
        XCTAssertTrue(r.stdout.contains("tied"))
        XCTAssertTrue(r.stdout.contains("BLAS kernel"))
    }

    /// The value column of the "BLAS kernel" row of `workbench info`.
    func kernelLine(_ stdout: String) -> String? {
        stdout.split(separator: "\n").first { $0.hasPrefix("BLAS kernel") }
            .map { $0.dropFirst("BLAS kernel".count).trimmingCharacters(in: .whitespaces) }
    }

    func testSlowBLASKernelIsReplacedAtStartUp() throws {
        let cpu = BLASRuntime.cpuFeatures()
        guard let expected = BLASRuntime.preferredCoreType(current: "Prescott", cpu: cpu) else {
            throw XCTSkip("this CPU has neither AVX2 nor AVX-512: nothing to switch to")
        }
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["WORKBENCH_BLAS_REEXEC"] = nil
        env["WORKBENCH_SIMULATE_BLAS_CORE"] = "Prescott"
        let r = try run(["info", "--no-measure"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(kernelLine(r.stdout), "\(expected) (OpenBLAS chose Prescott; switched at start-up)", r.stdout)

        // A core type chosen by the user is left alone.
        env["OPENBLAS_CORETYPE"] = "Haswell"
        let user = try run(["info", "--no-measure"], environment: env)
        XCTAssertEqual(kernelLine(user.stdout), "Haswell", user.stdout)
        XCTAssertTrue(user.stdout.contains("set by the user"), user.stdout)
    }

    func testForwardWritesTheDocumentedDatasets() throws {
        let dir = NSTemporaryDirectory() + "cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/acts.h5"
        let model = Self.fixtures + "/llama_sharded"
        let r = try run(["forward", "--model", model, "--ids", "1,2,3,4", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let f = try HDF5Reader(path: out)
        let m = try TransformerModel.load(directory: model)
        let (L, d, V) = (m.config.layerCount, m.config.hiddenSize, m.config.vocabSize)
        XCTAssertEqual(try f.readInts("input_ids").values, [1, 2, 3, 4])
        XCTAssertEqual(try f.shape("logits"), [4, V])
        XCTAssertEqual(try f.shape("residual"), [L + 1, 4, d])
        XCTAssertEqual(try f.readFloats("logits").values, try m.forward(TokenBatch([1, 2, 3, 4])).logits!.values)
        for key in ["tool_version", "command_line", "model_dir", "model_hash", "created"] {
            XCTAssertNotNil(try f.stringAttribute(key), "missing attribute \(key)")
        }
    }

    func testGenerateMatchesTheGreedyReference() throws {
        let model = Self.fixtures + "/llama_gqa_llama3rope"
        let ref = try SafeTensorsFile(path: model + "/reference.safetensors")
        let prompt = try ref.intValues("greedy_prompt").prefix(5).map(String.init).joined(separator: ",")
        let expected = Array(try ref.intValues("greedy_tokens").prefix(12))
        let r = try run(["generate", "--model", model, "--ids", prompt, "--max-new", "12", "--ignore-eos", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(json[0]["tokens"] as? [Int], expected)
    }

    func testBadInputGivesOneErrorLine() throws {
        assertOneLineError(try run(["forward", "--model", "/nonexistent/dir", "--ids", "1"]),
                           containing: "error: /nonexistent/dir: model directory does not exist")
        assertOneLineError(try run(["forward", "--model", Self.fixtures + "/llama_sharded", "--ids", "1,x"]),
                           containing: "'x' is not a non-negative integer token id")
        assertOneLineError(try run(["forward", "--model", Self.fixtures + "/llama_sharded", "--ids", "99999"]),
                           containing: "outside the vocabulary")

        let dir = NSTemporaryDirectory() + "cli-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Self.fixtures + "/llama_sharded/config.json", toPath: dir + "/config.json")
        _ = FileManager.default.createFile(atPath: dir + "/model.safetensors", contents: Data([0x10, 0, 0, 0, 0, 0, 0, 0]) + Data("{\"a\": 1}".utf8))
        assertOneLineError(try run(["info", dir, "--no-measure"]), containing: "\(dir)/model.safetensors: ")
    }
}
