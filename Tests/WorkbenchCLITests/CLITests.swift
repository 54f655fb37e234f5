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
        let r = try run(["info", "--runtime-only", "--no-measure"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(kernelLine(r.stdout), "\(expected) (OpenBLAS chose Prescott; switched at start-up)", r.stdout)

        // A core type chosen by the user is left alone.
        env["OPENBLAS_CORETYPE"] = "Haswell"
        let user = try run(["info", "--runtime-only", "--no-measure"], environment: env)
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

    static let tokenizers = fixtures + "/tokenizers"

    func testTokenizeAndDetokenize() throws {
        let tok = Self.tokenizers + "/llama3_style.json"
        let r = try run(["tokenize", "--tokenizer", tok, "--text", "Hello world", "--json", "--tokens"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let ids = obj["ids"] as! [Int]
        XCTAssertEqual(ids.first, 0, "the llama3 style adds <|begin_of_text|>")
        XCTAssertEqual((obj["tokens"] as! [String]).first, "<|begin_of_text|>")
        let back = try run(["detokenize", "--tokenizer", tok, "--ids", ids.map(String.init).joined(separator: ","), "--skip-special"])
        XCTAssertEqual(back.stdout, "Hello world\n")

        // --lines: one output line per input line, split at the scalar "\n" ("one\r" is a line;
        // splitting Characters would miss it, "\r\n" being one Character).
        let dir = NSTemporaryDirectory() + "cli-tok-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/in.txt", contents: Data("one\r\ntwo\nthree\n".utf8))
        let lines = try run(["tokenize", "--tokenizer", tok, "--file", dir + "/in.txt", "--lines", "--no-special"])
        XCTAssertEqual(lines.stdout.split(separator: "\n").count, 3, lines.stdout)

        _ = FileManager.default.createFile(atPath: dir + "/bad.txt", contents: Data([0x61, 0x62, 0xFF, 0x63]))
        assertOneLineError(try run(["tokenize", "--tokenizer", tok, "--file", dir + "/bad.txt"]),
                           containing: "\(dir)/bad.txt: invalid UTF-8 at byte 2")
        _ = FileManager.default.createFile(atPath: dir + "/broken.json", contents: Data("{\"model\": [".utf8))
        assertOneLineError(try run(["tokenize", "--tokenizer", dir + "/broken.json", "--text", "x"]),
                           containing: "\(dir)/broken.json: malformed JSON at line 1")
        assertOneLineError(try run(["detokenize", "--tokenizer", tok, "--ids", "999999"]), containing: "999999 is not a token")
    }

    /// A model directory with a tokenizer: the qwen2 fixture plus a 272-token tokenizer
    /// trained by `workbench tokenizer-train` (the fixture's vocabulary size).
    func modelWithTokenizer() throws -> String {
        let dir = NSTemporaryDirectory() + "cli-model-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.fixtures + "/qwen2_bias_tied_f16", toPath: dir)
        let corpus = dir + "/corpus.txt"
        _ = FileManager.default.createFile(atPath: corpus, contents: Data(String(repeating: "the river flows to the sea. ", count: 50).utf8))
        let r = try run(["tokenizer-train", "--corpus", corpus, "--vocab-size", "272", "--style", "qwen2", "--out", dir + "/tokenizer.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return dir
    }

    func testForwardAndGenerateFromText() throws {
        let dir = try modelWithTokenizer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = try run(["forward", "--model", dir, "--text", "the river", "--out", dir + "/acts.h5"])
        XCTAssertEqual(f.status, 0, f.stderr)
        let h5 = try HDF5Reader(path: dir + "/acts.h5")
        let tokenizer = try Tokenizer.load(modelDirectory: dir)
        XCTAssertEqual(try h5.readInts("input_ids").values, tokenizer.encode("the river"))
        XCTAssertEqual(try h5.readStrings("tokens"), tokenizer.tokens(tokenizer.encode("the river")))
        XCTAssertEqual(try h5.stringAttribute("text"), "the river")

        let g = try run(["generate", "--model", dir, "--text", "the sea", "--max-new", "5", "--ignore-eos", "--json"])
        XCTAssertEqual(g.status, 0, g.stderr)
        let rows = try JSONSerialization.jsonObject(with: Data(g.stdout.utf8)) as! [[String: Any]]
        let tokens = rows[0]["tokens"] as! [Int]
        XCTAssertEqual(tokens.count, 5)
        XCTAssertEqual(rows[0]["text"] as? String, tokenizer.decode(tokens, skipSpecialTokens: true))
        assertOneLineError(try run(["forward", "--model", Self.fixtures + "/llama_sharded", "--text", "hi"]),
                           containing: "llama_sharded/tokenizer.json: no such file")
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
