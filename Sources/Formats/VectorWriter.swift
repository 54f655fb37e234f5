import Foundation
import Model

/// Writes per-block vectors [L][d] in the formats `VectorFile` reads, each atomically:
/// raw float32 `.bin` ([L·d]), `.npy` ([L, d] float32, what the published steering code
/// exports as steering_vectors.npy), `.safetensors` (one tensor `steering_vectors` [L, d]) and
/// llama.cpp's control-vector GGUF.
public enum VectorWriter {
    public enum Format: String, CaseIterable, Sendable { case bin, npy, safetensors, gguf }

    public static func write(_ rows: [[Float]], format: Format, to path: String, modelHint: String = "") throws {
        guard let d = rows.first?.count, rows.allSatisfy({ $0.count == d }) else {
            throw WorkbenchError("vectors must all have the same length", file: path)
        }
        switch format {
        case .bin: try writeFileAtomically(floatBytes(rows.flatMap { $0 }), to: path)
        case .npy: try writeFileAtomically(npy(rows), to: path)
        case .safetensors:
            try SafeTensorsWriter.write([("steering_vectors", Tensor(shape: [rows.count, d], values: rows.flatMap { $0 }))], to: path)
        case .gguf: try writeFileAtomically(try gguf(rows, modelHint: modelHint, path: path), to: path)
        }
    }

    static func floatBytes(_ values: [Float]) -> Data {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// NPY 1.0: magic, version, a little-endian u16 header length, a Python dict literal padded
    /// with spaces and a newline to a multiple of 64 bytes, then the C-order data.
    static func npy(_ rows: [[Float]]) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(rows[0].count)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(floatBytes(rows.flatMap { $0 }))
        return data
    }

    /// GGUF v3 with `general.architecture = controlvector`, `controlvector.model_hint`,
    /// `controlvector.layer_count` (u32) and one F32 tensor `direction.l` per block l ≥ 1 whose
    /// vector is non-zero (llama.cpp adds it to block l's output). Block 0 has no slot there.
    static func gguf(_ rows: [[Float]], modelHint: String, path: String) throws -> Data {
        if rows[0].contains(where: { $0 != 0 }) {
            throw WorkbenchError("block 0's vector is non-zero, and a llama.cpp control vector cannot hold it (direction.0 is rejected); train with --layers excluding 0 or export another format", file: path)
        }
        let alignment = 32
        var out = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        let layers = (1..<rows.count).filter { rows[$0].contains { $0 != 0 } }
        guard !layers.isEmpty else {
            throw WorkbenchError("every vector of blocks 1 and above is zero: a control vector without directions is not a valid file", file: path)
        }
        u32(3)
        u64(UInt64(layers.count))
        u64(3)
        string("general.architecture"); u32(8); string("controlvector")
        string("controlvector.model_hint"); u32(8); string(modelHint)
        string("controlvector.layer_count"); u32(4); u32(UInt32(rows.count))
        let bytesPerTensor = rows[0].count * 4
        let stride = (bytesPerTensor + alignment - 1) / alignment * alignment
        for (n, l) in layers.enumerated() {
            string("direction.\(l)")
            u32(1); u64(UInt64(rows[l].count)); u32(0); u64(UInt64(n * stride))
        }
        out.append(Data(count: (alignment - out.count % alignment) % alignment))
        for l in layers {
            out.append(floatBytes(rows[l]))
            out.append(Data(count: stride - bytesPerTensor))
        }
        return out
    }
}
