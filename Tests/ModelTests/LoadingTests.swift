import Foundation
import Model
import XCTest

final class LoadingTests: XCTestCase {
    func testConfigVariants() throws {
        let old = try Fixtures.model("llama_gqa_llama3rope").config
        XCTAssertEqual(old.architecture, .llama)
        XCTAssertEqual(old.kvHeadCount, 2)
        XCTAssertEqual(old.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16))

        let bf16 = try Fixtures.model("llama_headdim_mqa_bf16")
        XCTAssertEqual(bf16.config.kvHeadCount, 1)
        XCTAssertNotEqual(bf16.config.headDim, bf16.config.hiddenSize / bf16.config.headCount)
        XCTAssertEqual(bf16.config.ropeTheta, 500_000)          // from rope_parameters
        XCTAssertTrue(bf16.config.qkvBias && bf16.config.outputBias)
        XCTAssertEqual(bf16.storedDTypes, ["BF16"])

        let qwen = try Fixtures.model("qwen2_bias_tied_f16")
        XCTAssertEqual(qwen.config.architecture, .qwen2)
        XCTAssertTrue(qwen.isTied)
        XCTAssertTrue(qwen.config.qkvBias && !qwen.config.outputBias)
        XCTAssertEqual(qwen.storedDTypes, ["F16"])

        let sharded = try Fixtures.model("llama_sharded")
        XCTAssertFalse(sharded.isTied)
    }

    func testLlama3RopeScalingOfFrequencies() throws {
        let c = ModelConfig(architecture: .llama, hiddenSize: 64, intermediateSize: 128, layerCount: 1, headCount: 4,
                            kvHeadCount: 2, vocabSize: 10, ropeTheta: 10000,
                            ropeScaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16))
        let plain = ModelConfig(architecture: .llama, hiddenSize: 64, intermediateSize: 128, layerCount: 1, headCount: 4,
                                kvHeadCount: 2, vocabSize: 10, ropeTheta: 10000)
        let scaled = c.ropeInverseFrequencies(), base = plain.ropeInverseFrequencies()
        for (s, b) in zip(scaled, base) {
            let wavelen = 2 * Double.pi / b
            if wavelen < 4 { XCTAssertEqual(s, b) }                       // high frequency: kept
            else if wavelen > 16 { XCTAssertEqual(s, b / 8, accuracy: 1e-15) } // low frequency: divided by factor
            else { XCTAssertTrue(s < b && s > b / 8) }                     // in between: interpolated
        }
    }

    func makeModelDir(config: String, copyWeightsFrom fixture: String? = "llama_gqa_llama3rope") throws -> String {
        let dir = try Fixtures.temporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(config.utf8))
        if let fixture {
            try FileManager.default.copyItem(atPath: Fixtures.path(fixture) + "/model.safetensors", toPath: dir + "/model.safetensors")
        }
        return dir
    }

    func fixtureConfig(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let data = FileManager.default.contents(atPath: Fixtures.path("llama_gqa_llama3rope") + "/config.json")!
        var obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&obj)
        return String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
    }

    func assertLoadFails(_ dir: String, containing fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TransformerModel.load(directory: dir), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' should mention '\(fragment)'", file: file, line: line)
            XCTAssertTrue("\(error)".contains(dir), "'\(error)' should name a file in \(dir)", file: file, line: line)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testBadModelsAreRejectedWithOneClearLine() throws {
        assertLoadFails(try makeModelDir(config: try fixtureConfig { $0["model_type"] = "gpt_neox" }),
                        containing: "unsupported architecture: model_type 'gpt_neox'")
        assertLoadFails(try makeModelDir(config: try fixtureConfig { $0["hidden_size"] = 96 }),
                        containing: "has shape [256, 64] but config.json implies [256, 96]")
        assertLoadFails(try makeModelDir(config: try fixtureConfig { $0["num_hidden_layers"] = 3 }),
                        containing: "missing tensor 'model.layers.2.input_layernorm.weight'")
        assertLoadFails(try makeModelDir(config: try fixtureConfig { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 2] }),
                        containing: "unsupported rope scaling type 'yarn'")
        assertLoadFails(try makeModelDir(config: "{ not json"), containing: "config.json: not a JSON object")
        assertLoadFails(try makeModelDir(config: try fixtureConfig { _ in }, copyWeightsFrom: nil),
                        containing: "no model.safetensors")
        assertLoadFails("/nonexistent/model", containing: "model directory does not exist")
    }

    func testEmbeddingLargerThanTokenizerVocabulary() throws {
        // The qwen2 fixture's embedding has 272 rows; its inputs only use ids < 250.
        let qwen = try Fixtures.model("qwen2_bias_tied_f16")
        XCTAssertEqual(qwen.weights.embedding.shape[0], 272)
        XCTAssertNoThrow(try qwen.forward(TokenBatch([271]), logits: .last))
        XCTAssertThrowsError(try qwen.forward(TokenBatch([272]), logits: .last)) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary"))
        }
    }

    /// An index's shard names are data from a downloaded file: a name or a symlink that leads out
    /// of the model directory is refused; a Hugging Face cache snapshot (links into the same
    /// repository's blobs/) loads.
    func testShardsOutsideTheModelDirectoryAreRefused() throws {
        let fm = FileManager.default
        let root = NSTemporaryDirectory() + "shards-\(UUID().uuidString)"
        defer { try? fm.removeItem(atPath: root) }
        let source = Fixtures.path("llama_sharded")
        let shards = try fm.contentsOfDirectory(atPath: source).filter { $0.hasPrefix("model-") }.sorted()
        let indexText = try String(contentsOfFile: source + "/model.safetensors.index.json", encoding: .utf8)

        // A directory with the config, the given index text and shard files made by `place`.
        func makeModel(_ name: String, index: String, place: (String, String) throws -> Void) throws -> String {
            let dir = root + "/" + name
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try fm.copyItem(atPath: source + "/config.json", toPath: dir + "/config.json")
            try index.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
            for shard in shards { try place(source + "/" + shard, dir + "/" + shard) }
            return dir
        }
        func refused(_ dir: String, _ fragment: String) {
            XCTAssertThrowsError(try TransformerModel.load(directory: dir)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
                XCTAssertTrue("\(error)".contains("model.safetensors.index.json"), "\(error)")
            }
        }
        let copy: (String, String) throws -> Void = { try fm.copyItem(atPath: $0, toPath: $1) }
        let outside = try makeModel("outside", index: indexText, place: copy)
        refused(try makeModel("dotdot", index: indexText.replacingOccurrences(of: "\"\(shards[0])\"", with: "\"../outside/\(shards[0])\""),
                              place: copy), "must be a file in the same directory")
        refused(try makeModel("absolute", index: indexText.replacingOccurrences(of: "\"\(shards[0])\"", with: "\"\(outside)/\(shards[0])\""),
                              place: copy), "must be a file in the same directory")
        refused(try makeModel("parent", index: indexText.replacingOccurrences(of: "\"\(shards[0])\"", with: "\"..\""),
                              place: copy), "must be a file in the same directory")
        refused(try makeModel("links", index: indexText) { _, target in
            try fm.createSymbolicLink(atPath: target, withDestinationPath: outside + "/" + (target as NSString).lastPathComponent)
        }, "outside the model directory")

        // models--org--name/snapshots/rev/shard -> ../../blobs/HASH, as the hub's cache lays them out.
        let repository = root + "/models--org--name"
        try fm.createDirectory(atPath: repository + "/blobs", withIntermediateDirectories: true)
        let snapshot = try makeModel("models--org--name/snapshots/abc123", index: indexText) { from, target in
            let blob = "blob-" + (target as NSString).lastPathComponent
            try fm.copyItem(atPath: from, toPath: repository + "/blobs/" + blob)
            try fm.createSymbolicLink(atPath: target, withDestinationPath: "../../blobs/" + blob)
        }
        let cached = try TransformerModel.load(directory: snapshot)
        let original = try Fixtures.model("llama_sharded")
        XCTAssertEqual(cached.fingerprint, original.fingerprint)
    }
}
