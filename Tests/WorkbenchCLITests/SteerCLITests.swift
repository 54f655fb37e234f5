import Foundation
import Formats
import Model
import XCTest

extension CLITests {
    var rlProblems: String { DefaultModel.dataDirectory + "/rl/train.jsonl" }

    /// Starts `tool args`, kills it with SIGKILL as soon as `path` exists (or it ends), and waits.
    func killOnceExists(_ path: String, _ args: [String], tool: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: (Self.binary as NSString).deletingLastPathComponent + "/" + tool)
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        while !FileManager.default.fileExists(atPath: path) && p.isRunning { usleep(2000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// The first `count` RL problems as SFT records answering " The answer is \boxed{N}.".
    func writeSFTRecords(_ count: Int, to path: String) throws {
        var lines = ""
        for (n, line) in try String(contentsOfFile: rlProblems, encoding: .utf8).split(separator: "\n").prefix(count).enumerated() {
            let q = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let record: [String: Any] = ["id": "s\(n)", "prompt": q["prompt"]!, "completion": " The answer is \\boxed{\(q["answer"]!)}."]
            lines += String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self) + "\n"
        }
        try lines.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func steerArgs(out: String) -> [String] {
        ["train", "--problems", rlProblems, "--out", out, "--steps", "4", "--prompts-per-step", "4", "--group", "4",
         "--max-new", "40", "--layers", "1,2,3", "--checkpoint-every", "1", "--lr", "0.01"]
    }

    /// steer train writes its run directory; a run killed with SIGKILL and started again with
    /// the same command ends with the same vectors, bit for bit; the vectors export to npy,
    /// safetensors and GGUF, read back equal, and apply through --adapter.
    func testSteerTrainResumeExportAndAdapter() throws {
        let dir = NSTemporaryDirectory() + "steer-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try run(steerArgs(out: dir + "/a"), tool: "steer")
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertTrue(straight.stderr.contains("step 4/4"), straight.stderr)
        for name in ["config.json", "vectors.bin", "training.h5", "checkpoint.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/a/" + name), name)
        }
        let metrics = try HDF5Reader(path: dir + "/a/training.h5")
        XCTAssertEqual(try metrics.readFloats("reward_mean").values.count, 4)
        XCTAssertEqual(try metrics.stringAttribute("objective"), "rloo")

        // Kill after the first checkpoint, then run the same command again.
        try killOnceExists(dir + "/b/checkpoint.safetensors", steerArgs(out: dir + "/b"), tool: "steer")
        let resumed = try run(steerArgs(out: dir + "/b"), tool: "steer")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let a = FileManager.default.contents(atPath: dir + "/a/vectors.bin")!, b = FileManager.default.contents(atPath: dir + "/b/vectors.bin")!
        XCTAssertEqual(a, b, "resumed run differs from the uninterrupted one")
        XCTAssertNotEqual(a, Data(count: a.count), "training moved the vectors")

        let m = try TransformerModel.load(directory: DefaultModel.directory)
        let trained = try VectorFile.load(dir + "/a/vectors.bin", config: m.config).rows
        XCTAssertEqual(trained[0], [Float](repeating: 0, count: m.config.hiddenSize), "block 0 carries no vector")
        for format in ["npy", "safetensors", "gguf"] {
            let r = try run(["export", dir + "/a", "--format", format, "--out", dir + "/v.\(format)"], tool: "steer")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try VectorFile.load(dir + "/v.\(format)", config: m.config).rows, trained, format)
        }
        let viaRun = try run(["generate", "--text", "Sela has 59 pears and finds 32 more.", "--max-new", "12", "--adapter", dir + "/a"])
        let viaFile = try run(["generate", "--text", "Sela has 59 pears and finds 32 more.", "--max-new", "12", "--adapter", dir + "/v.gguf"])
        XCTAssertEqual(viaRun.status, 0, viaRun.stderr)
        XCTAssertEqual(viaRun.stdout, viaFile.stdout)
        let inspect = try run(["inspect", dir + "/a/vectors.bin", "--top-tokens", "3"], lens: true)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)

        let eval = try run(["eval", "--adapter", dir + "/a", "--problems", DefaultModel.dataDirectory + "/rl/test.jsonl",
                            "-k", "0", "--max-new", "24", "--out", dir + "/eval.h5"], tool: "steer")
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("greedy accuracy"), eval.stdout)
        XCTAssertTrue(eval.stdout.contains("answer given: greedy"), eval.stdout)
        let evalFile = try HDF5Reader(path: dir + "/eval.h5")
        XCTAssertEqual(try evalFile.readStrings("problem_ids").count, 200)
        XCTAssertEqual(try evalFile.readInts("greedy_answered").values.count, 200)

        // Groups whose rewards are all equal are left out of the training pass; --train-flat-groups
        // computes them too, for the same update up to float rounding. It is not one of the run's
        // settings: a run started with it resumes without it.
        XCTAssertGreaterThan(try metrics.readFloats("zero_spread_fraction").values.max()!, 0, "the run has flat groups to leave out")
        let every = try run(steerArgs(out: dir + "/c") + ["--train-flat-groups"], tool: "steer")
        XCTAssertEqual(every.status, 0, every.stderr)
        let computed = try VectorFile.load(dir + "/c/vectors.bin", config: m.config).rows
        let scale = trained.joined().map(abs).max()!
        XCTAssertLessThan(zip(computed.joined(), trained.joined()).map { abs($0 - $1) }.max()!, 1e-3 * scale)
        try killOnceExists(dir + "/d/checkpoint.safetensors", steerArgs(out: dir + "/d") + ["--train-flat-groups"], tool: "steer")
        let resumedWithout = try run(steerArgs(out: dir + "/d"), tool: "steer")
        XCTAssertEqual(resumedWithout.status, 0, resumedWithout.stderr)
    }

    func testSteerRefusesBadInput() throws {
        let dir = NSTemporaryDirectory() + "steer-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"id\": \"a\", \"prompt\": \"1 + 1?\"}\n".write(toFile: dir + "/noanswer.jsonl", atomically: true, encoding: .utf8)
        assertOneLineError(try run(["train", "--problems", dir + "/noanswer.jsonl", "--out", dir + "/r"], tool: "steer"),
                           containing: "noanswer.jsonl: record 1 (id a): missing string field \"answer\"")
        try "{\"id\": \"a\", \"prompt\": \"1 + 1?\", \"answer\": \"two\"}\n".write(toFile: dir + "/word.jsonl", atomically: true, encoding: .utf8)
        assertOneLineError(try run(["train", "--problems", dir + "/word.jsonl", "--out", dir + "/r"], tool: "steer"),
                           containing: "word.jsonl: record 1 (id a): answer 'two' is not a number")
        assertOneLineError(try run(["train", "--problems", rlProblems, "--out", dir + "/r", "--template", "Q: {question}"], tool: "steer"),
                           containing: "--template: 'Q: {question}' is not raw")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r"), "nothing written on bad input")
        try Data(count: 12).write(to: URL(fileURLWithPath: dir + "/short.bin"))
        assertOneLineError(try run(["generate", "--text", "hi", "--adapter", dir + "/short.bin"]), containing: "short.bin: holds 3 values")
        // A run trained on the embedded model does not apply to another model, and its block-0
        // vector has no place in a llama.cpp control vector.
        let trained = try run(["train", "--problems", rlProblems, "--out", dir + "/m0", "--steps", "1", "--prompts-per-step", "2",
                               "--group", "4", "--max-new", "40", "--layers", "0,1", "--lr", "0.01"], tool: "steer")
        XCTAssertEqual(trained.status, 0, trained.stderr)
        assertOneLineError(try run(["forward", "--model", Self.fixtures + "/llama_gqa_llama3rope", "--ids", "1,2",
                                    "--out", dir + "/x.h5", "--adapter", dir + "/m0"]),
                           containing: "config.json: this run was trained on another model")
        assertOneLineError(try run(["export", dir + "/m0", "--format", "gguf", "--out", dir + "/x.gguf"], tool: "steer"),
                           containing: "x.gguf: block 0's vector is non-zero")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.gguf"))
    }

    /// TinyLoRA by SFT (the parameter count printed), resumed after SIGKILL to the same bits; a
    /// LoRA run by RL; both export to PEFT and merged directories, and every form applies
    /// through --adapter / --model with the same greedy text.
    func testSteerAdaptersSupervisedResumeAndExport() throws {
        let dir = NSTemporaryDirectory() + "steer-adapters-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSFTRecords(40, to: dir + "/sft.jsonl")
        func sft(_ out: String) -> [String] {
            ["train", "--method", "tinylora", "--u", "3", "--tie", "all", "--objective", "sft", "--problems", dir + "/sft.jsonl",
             "--out", out, "--steps", "6", "--prompts-per-step", "4", "--checkpoint-every", "1", "--lr", "0.05"]
        }
        let straight = try run(sft(dir + "/a"), tool: "steer")
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertTrue(straight.stderr.contains("tinylora: 3 trainable parameters; objective sft"), straight.stderr)
        XCTAssertTrue(straight.stderr.contains("token acc"), straight.stderr)
        try killOnceExists(dir + "/b/checkpoint.safetensors", sft(dir + "/b"), tool: "steer")
        let resumed = try run(sft(dir + "/b"), tool: "steer")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let a = FileManager.default.contents(atPath: dir + "/a/adapter.safetensors")!
        XCTAssertEqual(a, FileManager.default.contents(atPath: dir + "/b/adapter.safetensors"), "resumed run differs")

        let lora = try run(["train", "--method", "lora", "--rank", "1", "--targets", "q,v,down", "--problems", rlProblems,
                            "--out", dir + "/lora", "--steps", "2", "--prompts-per-step", "4", "--group", "4", "--max-new", "40",
                            "--lr", "0.01"], tool: "steer")
        XCTAssertEqual(lora.status, 0, lora.stderr)
        // r (in + out) per module: q 256 + 256, v 256 + 64, down 704 + 256, in 4 blocks.
        XCTAssertTrue(lora.stderr.contains("lora: 7.2K (7168) trainable parameters"), lora.stderr)
        let prompt = ["generate", "--text", "Sela has 59 pears and finds 32 more.", "--max-new", "16"]
        for run_ in ["a", "lora"] {
            for format in ["peft", "merged"] {
                let r = try run(["export", dir + "/" + run_, "--format", format, "--out", dir + "/\(run_)-\(format)"], tool: "steer")
                XCTAssertEqual(r.status, 0, r.stderr)
            }
            let viaRun = try run(prompt + ["--adapter", dir + "/" + run_])
            XCTAssertEqual(viaRun.status, 0, viaRun.stderr)
            XCTAssertEqual(try run(prompt + ["--adapter", dir + "/\(run_)-peft"]).stdout, viaRun.stdout, run_)
            XCTAssertEqual(try run(prompt + ["--model", dir + "/\(run_)-merged"]).stdout, viaRun.stdout, run_)
        }
        assertOneLineError(try run(["export", dir + "/lora", "--format", "gguf", "--out", dir + "/x"], tool: "steer"),
                           containing: "--format: 'gguf' is not peft or merged")
        assertOneLineError(try run(["train", "--method", "tinylora", "--objective", "sft", "--problems", rlProblems,
                                    "--out", dir + "/bad"], tool: "steer"),
                           containing: "missing string field \"completion\"")
    }

    /// LoReFT by SFT on two blocks: parameter count, |RRᵀ − I| in the log, reft.safetensors, and
    /// the run applied by workbench generate, steer eval and lens run; bad positions refused.
    func testSteerReFT() throws {
        let dir = NSTemporaryDirectory() + "steer-reft-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSFTRecords(20, to: dir + "/sft.jsonl")
        let trained = try run(["train", "--method", "loreft", "--objective", "sft", "--problems", dir + "/sft.jsonl", "--out", dir + "/r",
                               "--steps", "3", "--prompts-per-step", "4", "--layers", "1,3", "--positions", "f2+l2", "--rank", "2",
                               "--lr", "0.01"], tool: "steer")
        XCTAssertEqual(trained.status, 0, trained.stderr)
        // 2 blocks × 2 position groups × (2 d r + r), d = 256, r = 2.
        XCTAssertTrue(trained.stderr.contains("loreft: 4.1K (4104) trainable parameters"), trained.stderr)
        XCTAssertTrue(trained.stderr.contains("|RRᵀ−I|"), trained.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/r/reft.safetensors"))
        let prompt = ["generate", "--text", "Sela has 59 pears and finds 32 more.", "--max-new", "8"]
        let adapted = try run(prompt + ["--adapter", dir + "/r"])
        XCTAssertEqual(adapted.status, 0, adapted.stderr)
        let eval = try run(["eval", "--adapter", dir + "/r", "--problems", DefaultModel.dataDirectory + "/rl/test.jsonl",
                            "-k", "0", "--max-new", "8"], tool: "steer")
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("loreft interventions"), eval.stdout)
        let lensOut = try run(["run", "--prompt", "Sela has 59 pears", "--adapter", dir + "/r", "--json"], lens: true)
        let lensPlain = try run(["run", "--prompt", "Sela has 59 pears", "--json"], lens: true)
        XCTAssertEqual(lensOut.status, 0, lensOut.stderr)
        XCTAssertNotEqual(lensOut.stdout.prefix(2000), lensPlain.stdout.prefix(2000), "the lens reads the intervened stream")
        assertOneLineError(try run(["train", "--method", "loreft", "--objective", "sft", "--problems", dir + "/sft.jsonl",
                                    "--out", dir + "/bad", "--positions", "m3"], tool: "steer"),
                           containing: "--positions: 'm3' is not fN or lN")
        assertOneLineError(try run(["export", dir + "/r", "--format", "peft", "--out", dir + "/x"], tool: "steer"),
                           containing: "a ReFT run is applied as it is")
    }
}
