import Foundation
import Lens
import Model
import XCTest
import Formats

final class VectorInspectionTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/llama_gqa_llama3rope").path
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "lens-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func floats(_ n: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in g.nextUnitFloat() - 0.5 }
    }

    func bytes(_ values: [Float]) -> Data { values.withUnsafeBytes { Data($0) } }

    func testFormatsReadTheSameVectors() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let (L, d) = (m.config.layerCount, m.config.hiddenSize)
        let all = floats(L * d, seed: 1)

        _ = FileManager.default.createFile(atPath: dir + "/v.bin", contents: bytes(all))
        XCTAssertEqual(try VectorFile.load(dir + "/v.bin", config: m.config).rows.flatMap { $0 }, all)
        _ = FileManager.default.createFile(atPath: dir + "/one.bin", contents: bytes(Array(all.prefix(d))))
        XCTAssertEqual(try VectorFile.load(dir + "/one.bin", config: m.config).rows, [Array(all.prefix(d))])

        // .npy, float64, shape (L, d)
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (\(L), \(d)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var npy = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        npy.append(Data(header.utf8))
        npy.append(all.map { Double($0) }.withUnsafeBytes { Data($0) })
        _ = FileManager.default.createFile(atPath: dir + "/v.npy", contents: npy)
        XCTAssertEqual(try VectorFile.load(dir + "/v.npy", config: m.config).rows.flatMap { $0 }, all)

        // .safetensors with down_proj biases, one block missing
        try SafeTensorsWriter.write([("model.layers.1.mlp.down_proj.bias", Tensor(shape: [d], values: Array(all.suffix(d))))], to: dir + "/v.safetensors")
        let st = try VectorFile.load(dir + "/v.safetensors", config: m.config)
        XCTAssertEqual(st.rows, [[Float](repeating: 0, count: d), Array(all.suffix(d))])

        // HDF5 dataset
        let w = try HDF5Writer(path: dir + "/v.h5")
        try w.writeFloats("steer/vectors", shape: [L, d], all)
        try w.commit()
        XCTAssertEqual(try VectorFile.load(dir + "/v.h5:/steer/vectors", config: m.config).rows.flatMap { $0 }, all)

        // GGUF control vector with direction.1 only
        _ = FileManager.default.createFile(atPath: dir + "/v.gguf", contents: gguf(direction: 1, Array(all.suffix(d))))
        let g = try VectorFile.load(dir + "/v.gguf", config: m.config)
        XCTAssertEqual(g.rows[1], Array(all.suffix(d)))
        XCTAssertEqual(g.rows[0], [Float](repeating: 0, count: d))

        _ = FileManager.default.createFile(atPath: dir + "/bad.bin", contents: bytes(floats(d + 1, seed: 2)))
        XCTAssertThrowsError(try VectorFile.load(dir + "/bad.bin", config: m.config)) {
            XCTAssertEqual("\($0)", "\(dir)/bad.bin: holds \(d + 1) values (shape [\(d + 1)]); the model needs d = \(d) or L·d = \(L) × \(d) = \(L * d)")
        }
    }

    /// A minimal GGUF v3 file: one metadata entry and one F32 tensor direction.{l}.
    func gguf(direction l: Int, _ values: [Float]) -> Data {
        var d = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(Data(s.utf8)) }
        u32(3); u64(1); u64(1)
        str("general.architecture"); u32(8); str("controlvector")
        str("direction.\(l)"); u32(1); u64(UInt64(values.count)); u32(0); u64(0)
        while d.count % 32 != 0 { d.append(0) }
        d.append(bytes(values))
        return d
    }

    func testReadingsMatchDirectComputation() throws {
        let m = try TransformerModel.load(directory: Self.fixture)
        let (d, V) = (m.config.hiddenSize, m.config.vocabSize)
        let v = floats(d, seed: 3)
        let result = VectorInspection.inspect([v], model: m, k: 5)
        let W = m.weights.unembedding.values, gamma = m.weights.finalNorm.values
        func direct(_ x: [Float]) -> [Float] { (0..<V).map { i in (0..<d).reduce(Float(0)) { $0 + W[i * d + $1] * x[$1] } } }
        let raw = direct(v), normed = direct(zip(v, gamma).map { $0 * $1 })
        let vNorm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
        let cosine = (0..<V).map { i in raw[i] / (vNorm * (0..<d).reduce(Float(0)) { $0 + W[i * d + $1] * W[i * d + $1] }.squareRoot()) }
        for (reading, expected) in zip(result.readings[0], [raw, normed, cosine]) {
            let order = expected.indices.sorted { expected[$0] > expected[$1] }
            XCTAssertEqual(reading.promoted.map(\.id), Array(order.prefix(5)), "\(reading.projection)")
            XCTAssertEqual(reading.suppressed.map(\.id), Array(order.suffix(5).reversed()), "\(reading.projection)")
            for t in reading.promoted { XCTAssertEqual(t.score, expected[t.id], accuracy: 1e-4 * max(1, abs(t.score))) }
        }
        // Stable rank: parallel rows → 1; orthogonal rows of equal norm → their count.
        XCTAssertEqual(VectorInspection.inspect([v, v.map { 2 * $0 }], model: m, k: 1).stableRank, 1, accuracy: 1e-4)
        var e1 = [Float](repeating: 0, count: d), e2 = e1
        e1[0] = 1; e2[1] = 1
        let two = VectorInspection.inspect([e1, e2], model: m, k: 1)
        XCTAssertEqual(two.stableRank, 2, accuracy: 1e-4)
        XCTAssertEqual(two.cosines[0][1], 0, accuracy: 1e-6)
        XCTAssertEqual(two.norms, [1, 1])
    }
}
