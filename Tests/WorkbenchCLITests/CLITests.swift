import Foundation
import Model
import XCTest
import Formats
import Tokenizers

/// End-to-end checks of the `workbench` executable: outputs, and one clear error
/// line with a non-zero exit for bad input.
final class CLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures").path

    /// The binaries sit next to the test bundle in the build directory.
    static var lensBinary: String {
        (binary as NSString).deletingLastPathComponent + "/lens"
    }

    static var binary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
        var dir = testBinary.deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("workbench").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("workbench").path
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func run(_ args: [String], environment: [String: String]? = nil, directory: String? = nil, lens: Bool = false,
             tool: String? = nil) throws -> Run {
        let executable = lens ? Self.lensBinary : tool.map { (Self.binary as NSString).deletingLastPathComponent + "/" + $0 } ?? Self.binary
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: executable), "no binary at \(executable)")
        return try launch(executable, args, environment: environment, directory: directory)
    }

    /// Runs `executable args` to the end and collects its status and output.
    func launch(_ executable: String, _ args: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if let environment { p.environment = environment }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
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
        // Equal to rounding: the command may run other BLAS kernels than this process, where it
        // switched kernels at start-up and this process did not (scripts/test.sh aligns them).
        let written = try f.readFloats("logits").values, direct = try m.forward(TokenBatch([1, 2, 3, 4])).logits!.values
        XCTAssertEqual(written.count, direct.count)
        for (a, b) in zip(written, direct) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
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

    static let tokenizers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TokenizersTests/Fixtures").path

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

    /// The main job on the embedded model, started from an unrelated working directory.
    func testDemoRunsOnTheEmbeddedModelFromAnyDirectory() throws {
        let dir = NSTemporaryDirectory() + "cli-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["demo", "--out", "results"], directory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("greedy generation"), r.stdout)
        let h5 = try HDF5Reader(path: dir + "/results/activations.h5")
        let model = try TransformerModel.load(directory: DefaultModel.directory)
        let T = try h5.shape("input_ids")[0]
        XCTAssertEqual(try h5.shape("residual"), [model.config.layerCount + 1, T, model.config.hiddenSize])
        XCTAssertEqual(try h5.shape("logits"), [T, model.config.vocabSize])
        let generations = try String(contentsOfFile: dir + "/results/generations.jsonl", encoding: .utf8)
        XCTAssertGreaterThanOrEqual(generations.split(separator: "\n").count, 3)
        // The RL step measures its effect on held-out problems and says what it is.
        XCTAssertTrue(r.stdout.contains("paired standard error") && r.stdout.contains("effect: "), r.stdout)
        XCTAssertEqual(try HDF5Reader(path: dir + "/results/steer/eval.h5").readDoubles("history/step").values, [0, 50])

        // The demo's page holds every kind of result; `workbench report` makes one of any of them.
        let page = try String(contentsOfFile: dir + "/results/report.html", encoding: .utf8)
        for part in ["<h2>RL run:", "<h2>Logit lens:", "<h2>Influence:", "class=\"tok pos\"", "<svg class=\"chart\""] {
            XCTAssertTrue(page.contains(part), part)
        }
        XCTAssertFalse(page.contains("<script"))
        let lens = try run(["report", "results/lens.h5", "results/steer", "--out", "one.html"], directory: dir)
        XCTAssertEqual(lens.status, 0, lens.stderr)
        let one = try String(contentsOfFile: dir + "/one.html", encoding: .utf8)
        XCTAssertTrue(one.contains("<h2>Logit lens:") && one.contains("<h2>RL run:") && !one.contains("<h2>Influence:"))
        assertOneLineError(try run(["report", "results/activations.h5", "--out", "x.html"], directory: dir),
                           containing: "results/activations.h5: is not a result the report knows")
        assertOneLineError(try run(["report", "results/nothing", "--out", "x.html"], directory: dir),
                           containing: "results/nothing: no such file or directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.html"))

        let tok = try run(["tokenize", "--text", "The capital of", "--json"], directory: dir)
        XCTAssertEqual(tok.status, 0, tok.stderr)
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(tok.stdout.utf8)) as? [String: [Int]],
                       ["ids": try Tokenizer.load(modelDirectory: DefaultModel.directory).encode("The capital of")])
    }

    func testLensRunAndInspect() throws {
        let dir = try modelWithTokenizer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["run", "--model", dir, "--prompt", "the river flows", "--target", "#10", "--out", dir + "/lens.h5"], lens: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try TransformerModel.load(directory: dir)
        let tokens = try Tokenizer.load(modelDirectory: dir).encode("the river flows")
        let h5 = try HDF5Reader(path: dir + "/lens.h5")
        let (L1, T) = (m.config.layerCount + 1, tokens.count)
        XCTAssertEqual(try h5.shape("top_ids"), [1, L1, T, 5])
        XCTAssertEqual(try h5.shape("kl_to_final"), [1, L1, T])
        XCTAssertEqual(try h5.shape("target_rank"), [1, L1, T])
        // The last layer's top token is the model's own argmax at every position.
        let logits = try m.forward(TokenBatch(tokens)).logits!
        let top = try h5.readInts("top_ids").values
        for t in 0..<T {
            let row = UnsafeBufferPointer(start: logits.data + t * m.config.vocabSize, count: m.config.vocabSize)
            XCTAssertEqual(top[((L1 - 1) * T + t) * 5], TokenDistribution.argmax(row))
        }

        // A batch of prompts with every site kind, and the heatmap.
        try "the river flows\nthe capital\n".write(toFile: dir + "/prompts.txt", atomically: true, encoding: .utf8)
        let batch = try run(["run", "--model", dir, "--batch", dir + "/prompts.txt", "--sites", "pre,mid,post",
                             "--out", dir + "/batch.h5", "--svg", dir + "/lens.svg"], lens: true)
        XCTAssertEqual(batch.status, 0, batch.stderr)
        let b5 = try HDF5Reader(path: dir + "/batch.h5")
        let longest = max(T, try Tokenizer.load(modelDirectory: dir).encode("the capital").count)
        XCTAssertEqual(try b5.shape("top_ids"), [2, 3 * (L1 - 1), longest, 5])
        XCTAssertEqual(try b5.readStrings("sites").prefix(3), ["0.pre", "0.mid", "0.post"])
        let svg = try String(contentsOfFile: dir + "/lens.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("the capital"), svg.prefix(200).description)
        assertOneLineError(try run(["run", "--model", dir, "--prompt", "x", "--sites", "post,side"], lens: true),
                           containing: "--sites: 'side' is not pre, mid or post")

        let d = m.config.hiddenSize
        let vector = (0..<d).map { Float($0 % 7) - 3 }
        _ = FileManager.default.createFile(atPath: dir + "/v.bin", contents: vector.withUnsafeBytes { Data($0) })
        let inspect = try run(["inspect", dir + "/v.bin", "--model", dir, "--top-tokens", "3", "--json"], lens: true)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((obj["rows"] as! [[String: Any]]).count, 1)
        _ = FileManager.default.createFile(atPath: dir + "/short.bin", contents: Data(count: 12))
        assertOneLineError(try run(["inspect", dir + "/short.bin", "--model", dir], lens: true),
                           containing: "short.bin: holds 3 values (shape [3]); the model needs d = \(d)")
    }

    /// Writes DIR/docs.jsonl and DIR/q.jsonl: the first documents of the sample corpus and
    /// the first reasoning queries of the embedded model's data.
    func writeInfluenceInputs(to dir: String, documents: Int, queries: Int) throws {
        for (source, name, count) in [("corpus-sample.jsonl", "docs.jsonl", documents), ("queries/reasoning.jsonl", "q.jsonl", queries)] {
            let text = try String(contentsOfFile: DefaultModel.dataDirectory + "/" + source, encoding: .utf8)
            try (text.split(separator: "\n").prefix(count).joined(separator: "\n") + "\n").write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    /// fit → score → shards + merge, and a run killed with SIGKILL resumes to the same scores.
    func testInfluenceEndToEnd() throws {
        let dir = NSTemporaryDirectory() + "influence-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeInfluenceInputs(to: dir, documents: 24, queries: 3)
        let common = ["--queries", dir + "/q.jsonl", "--docs", dir + "/docs.jsonl", "--max-length", "64", "--normalize", "nll", "--batch-size", "4"]

        let fit = try run(["fit", "--docs", dir + "/docs.jsonl", "--out", dir + "/factors.h5", "--max-length", "64"], tool: "influence")
        XCTAssertEqual(fit.status, 0, fit.stderr)
        let whole = try run(["score"] + common + ["--factors", dir + "/factors.h5", "--out", dir + "/whole.h5", "--per-module"], tool: "influence")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let h5 = try HDF5Reader(path: dir + "/whole.h5")
        XCTAssertEqual(try h5.shape("scores"), [3, 24])
        XCTAssertEqual(try h5.shape("per_module"), [3 * m0Layers, 3, 24])
        XCTAssertEqual(try h5.shape("top/indices"), [3, 10])
        XCTAssertEqual(try h5.stringAttribute("normalization"), "nll")
        XCTAssertNotNil(try h5.stringAttribute("sign_convention"))
        let reference = try h5.readFloats("scores").values

        for i in 0..<2 {
            let r = try run(["score"] + common + ["--factors", dir + "/factors.h5", "--out", dir + "/s\(i).h5", "--per-module", "--shard", "\(i)/2"], tool: "influence")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let merge = try run(["merge", dir + "/s1.h5", dir + "/s0.h5", "--out", dir + "/merged.h5"], tool: "influence")
        XCTAssertEqual(merge.status, 0, merge.stderr)
        XCTAssertEqual(try HDF5Reader(path: dir + "/merged.h5").readFloats("scores").values, reference)
        XCTAssertEqual(try HDF5Reader(path: dir + "/merged.h5").readFloats("per_module").values, try h5.readFloats("per_module").values)

        let analyze = try run(["analyze", dir + "/whole.h5", "--docs", dir + "/docs.jsonl", "--queries", dir + "/q.jsonl",
                               "--out", dir + "/analysis.h5", "--top-k", "5"], tool: "influence")
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        let a5 = try HDF5Reader(path: dir + "/analysis.h5")
        let correlation = try a5.readFloats("correlation").values
        for q in 0..<3 { XCTAssertEqual(correlation[q * 3 + q], 1, accuracy: 1e-5) }
        // The sign/magnitude split, recomputed here from the scores.
        let magnitude = try a5.readFloats("magnitude_correlation").values, sameSign = try a5.readFloats("sign_agreement").values
        let signChance = try a5.readFloats("sign_agreement_chance").values
        func row(_ q: Int) -> [Double] { (0..<24).map { Double(reference[q * 24 + $0]) } }
        func pearson(_ x: [Double], _ y: [Double]) -> Double {
            let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
            let sxy = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +)
            return sxy / (x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +) * y.map { ($0 - my) * ($0 - my) }.reduce(0, +)).squareRoot()
        }
        for i in 0..<3 {
            for j in 0..<3 {
                XCTAssertEqual(Double(magnitude[i * 3 + j]), pearson(row(i).map(abs), row(j).map(abs)), accuracy: 1e-5)
                let both = zip(row(i), row(j)).filter { $0 != 0 && $1 != 0 }
                XCTAssertEqual(Double(sameSign[i * 3 + j]), Double(both.filter { ($0 > 0) == ($1 > 0) }.count) / Double(both.count), accuracy: 1e-6)
                let pi = Double(both.filter { $0.0 > 0 }.count) / Double(both.count), pj = Double(both.filter { $0.1 > 0 }.count) / Double(both.count)
                XCTAssertEqual(Double(signChance[i * 3 + j]), pi * pj + (1 - pi) * (1 - pj), accuracy: 1e-6)
            }
        }
        XCTAssertTrue(a5.contains("task_magnitude_correlation") && a5.contains("task_sign_agreement"))
        // (3)'s baseline: the chance that 5 random documents of 24 hold one of the m with the answer.
        let counts = try a5.readInts("answer_documents").values, chance = try a5.readFloats("answer_in_top_chance").values
        for q in 0..<3 where counts[q] >= 0 {
            let m = Double(counts[q])
            XCTAssertLessThanOrEqual(m, 24)
            let none = (0..<5).reduce(1.0) { $0 * max(24 - m - Double($1), 0) / (24 - Double($1)) }
            XCTAssertEqual(Double(chance[q]), 1 - none, accuracy: 1e-6)
        }
        let shares = try a5.readFloats("cumulative_share")
        XCTAssertEqual(shares.shape, [3, 8])
        for q in 0..<3 {
            let row = shares.values[(q * 8)..<((q + 1) * 8)]
            XCTAssertEqual(Array(row), row.sorted(), "cumulative shares grow with the percentile")
            XCTAssertLessThanOrEqual(row.last!, 1.0001)
        }
        let report = try String(contentsOfFile: dir + "/analysis.md", encoding: .utf8)
        XCTAssertTrue(report.contains("## 5.") && report.contains("Paper"), report)

        // kill -9 once a checkpoint exists, then run the same command again.
        let args = ["score"] + common + ["--factors", dir + "/factors.h5", "--out", dir + "/killed.h5", "--per-module", "--checkpoint-every", "0"]
        try killOnceExists(dir + "/killed.h5.partial.h5", args, tool: "influence")
        let resumed = try run(args, tool: "influence")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try HDF5Reader(path: dir + "/killed.h5").readFloats("scores").values, reference)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/killed.h5.partial.h5"))

        try "{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": 3}\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        assertOneLineError(try run(["fit", "--docs", dir + "/bad.jsonl", "--out", dir + "/f.h5"], tool: "influence"),
                           containing: "bad.jsonl: line 2: missing string field \"text\"")
        assertOneLineError(try run(["score", "--queries", dir + "/docs.jsonl", "--docs", dir + "/docs.jsonl", "--out", dir + "/x.h5",
                                    "--factors", dir + "/factors.h5"], tool: "influence"),
                           containing: "docs.jsonl: line 1: not a query object")
    }

    var m0Layers: Int { (try? TransformerModel.load(directory: DefaultModel.directory).config.layerCount) ?? 0 }

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

        // A mixture weight for a source the corpus does not have, or without its count.
        let corpus = dir + "/corpus"
        try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
        try Data("{\"id\": \"a\", \"text\": \"one two\", \"source\": \"wiki\"}\n".utf8).write(to: URL(fileURLWithPath: corpus + "/a.jsonl"))
        assertOneLineError(try run(["pretrain", "--corpus", corpus, "--out", dir + "/run", "--repeat", "code=2"]),
                           containing: "\(corpus): --repeat: no document has source 'code'")
        assertOneLineError(try run(["pretrain", "--corpus", corpus, "--out", dir + "/run", "--repeat", "wiki"]),
                           containing: "--repeat expects source=N, got 'wiki'")
        assertOneLineError(try run(["bench", "--batch", "0"]), containing: "--batch must be at least 1, got 0")
    }
}
