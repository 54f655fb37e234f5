import Foundation
import Model

/// Reads steering / direction vectors from the formats people exchange them in, as
/// rows of floats: [d] (one vector) or [L, d] (one per block).
///
/// - raw little-endian float32 `.bin` of d or L·d values
/// - `.npy` (float32 or float64, shape [d] or [L, d], C order)
/// - `.safetensors`: the tensor `tensor` (default: the only one), or the
///   `model.layers.{l}.mlp.down_proj.bias` tensors gathered into [L, d]
/// - `file.h5:/dataset`
/// - llama.cpp control-vector GGUF: `direction.{l}` F32 tensors (block l's output;
///   blocks without one get a zero row)
public enum VectorFile {
    public struct Vectors {
        /// One row per vector.
        public var rows: [[Float]]
        /// Where they came from, for messages and provenance.
        public var source: String
        public var isPerLayer: Bool
    }

    /// Reads `spec` for a model with `config`; NaN or infinite values are refused.
    public static func load(_ spec: String, tensor: String? = nil, config: ModelConfig) throws -> Vectors {
        let vectors = try read(spec, tensor: tensor, config: config)
        for (i, row) in vectors.rows.enumerated() {
            if let bad = row.firstIndex(where: { !$0.isFinite }) {
                let which = vectors.rows.count > 1 ? "vector \(i), value \(bad)" : "value \(bad)"
                throw WorkbenchError("\(which) is \(row[bad]); vectors must be finite", file: spec)
            }
        }
        return vectors
    }

    static func read(_ spec: String, tensor: String?, config: ModelConfig) throws -> Vectors {
        // file.h5:/dataset
        if let range = spec.range(of: ".h5:") ?? spec.range(of: ".hdf5:") {
            let path = String(spec[..<range.lowerBound]) + (spec[range].hasPrefix(".h5") ? ".h5" : ".hdf5")
            let dataset = String(spec[range.upperBound...])
            let (shape, values) = try HDF5Reader(path: path).readFloats(dataset)
            return try shaped(values, shape: shape, source: spec, config: config)
        }
        guard FileManager.default.fileExists(atPath: spec) else { throw WorkbenchError("no such file", file: spec) }
        let lower = spec.lowercased()
        if lower.hasSuffix(".npy") { return try npy(spec, config: config) }
        if lower.hasSuffix(".safetensors") { return try safetensors(spec, tensor: tensor, config: config) }
        if lower.hasSuffix(".gguf") { return try GGUFControlVector.load(spec, config: config) }
        let data = try readFile(spec)
        guard data.count % 4 == 0 else {
            throw WorkbenchError("\(data.count) bytes is not a whole number of float32 values", file: spec)
        }
        let values = data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
        return try shaped(values, shape: [values.count], source: spec, config: config)
    }

    /// Interprets a flat or 2-D array as [d] or [L, d] for this model.
    static func shaped(_ values: [Float], shape: [Int], source: String, config c: ModelConfig) throws -> Vectors {
        let d = c.hiddenSize, L = c.layerCount
        if values.count == d { return Vectors(rows: [values], source: source, isPerLayer: false) }
        if values.count == L * d {
            return Vectors(rows: (0..<L).map { Array(values[($0 * d)..<(($0 + 1) * d)]) }, source: source, isPerLayer: true)
        }
        throw WorkbenchError("holds \(values.count) values (shape \(shape)); the model needs d = \(d) or L·d = \(L) × \(d) = \(L * d)", file: source)
    }

    static func npy(_ path: String, config: ModelConfig) throws -> Vectors {
        let data = try readFile(path)
        let bytes = [UInt8](data)
        guard bytes.count >= 12, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw WorkbenchError("not a .npy file (bad magic)", file: path)
        }
        let major = bytes[6]
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                                      : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let start = major == 1 ? 10 : 12
        guard start + headerLength <= bytes.count else { throw WorkbenchError(".npy header runs past the end of the file", file: path) }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let shapeText = field("shape") else { throw WorkbenchError(".npy header lacks descr or shape", file: path) }
        if field("fortran_order")?.hasPrefix("True") == true { throw WorkbenchError("Fortran-ordered .npy arrays are not supported", file: path) }
        let isF4 = descr.hasPrefix("'<f4'") || descr.hasPrefix("'|f4'")
        let isF8 = descr.hasPrefix("'<f8'")
        guard isF4 || isF8 else { throw WorkbenchError(".npy dtype \(descr.prefix(6)) is not supported (float32 or float64, little-endian)", file: path) }
        let inside = shapeText.drop { $0 == "(" }.prefix { $0 != ")" }
        let shape = inside.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let payload = start + headerLength
        let width = isF4 ? 4 : 8
        // The product of the dimensions, checked against the data as it grows.
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !overflow, product <= (bytes.count - payload) / width else {
                throw WorkbenchError(".npy data is shorter than its shape \(shape)", file: path)
            }
            count = product
        }
        // (A shape of no dimensions is one value.)
        guard count <= (bytes.count - payload) / width else { throw WorkbenchError(".npy data is shorter than its shape \(shape)", file: path) }
        let values: [Float] = data.withUnsafeBytes { raw in
            (0..<count).map { i in
                isF4 ? Float(bitPattern: raw.loadUnaligned(fromByteOffset: payload + 4 * i, as: UInt32.self))
                     : Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: payload + 8 * i, as: UInt64.self)))
            }
        }
        return try shaped(values, shape: shape, source: path, config: config)
    }

    static func safetensors(_ path: String, tensor: String?, config c: ModelConfig) throws -> Vectors {
        let file = try SafeTensorsFile(path: path)
        if let tensor {
            let t = try file.floatTensor(tensor)
            return try shaped(t.values, shape: t.shape, source: "\(path):\(tensor)", config: c)
        }
        let biasNames = (0..<c.layerCount).map { "model.layers.\($0).mlp.down_proj.bias" }
        if biasNames.contains(where: { file.tensors[$0] != nil }) {
            var rows: [[Float]] = []
            for name in biasNames {
                if file.tensors[name] != nil {
                    let t = try file.floatTensor(name)
                    guard t.count == c.hiddenSize else { throw WorkbenchError("'\(name)' has \(t.count) values, d = \(c.hiddenSize)", file: path) }
                    rows.append(t.values)
                } else {
                    rows.append([Float](repeating: 0, count: c.hiddenSize))
                }
            }
            return Vectors(rows: rows, source: path, isPerLayer: true)
        }
        guard file.tensors.count == 1, let only = file.tensors.keys.first else {
            throw WorkbenchError("holds \(file.tensors.count) tensors; choose one with --tensor (\(file.tensors.keys.sorted().prefix(5).joined(separator: ", ")))", file: path)
        }
        let t = try file.floatTensor(only)
        return try shaped(t.values, shape: t.shape, source: "\(path):\(only)", config: c)
    }
}

/// llama.cpp control vectors: a GGUF file whose tensors are `direction.{l}` (F32, [d]), read
/// by the same bounds-checked reader as GGUF models.
enum GGUFControlVector {
    static func load(_ path: String, config c: ModelConfig) throws -> VectorFile.Vectors {
        let file = try GGUFFile(path: path)
        var rows = [[Float]](repeating: [Float](repeating: 0, count: c.hiddenSize), count: c.layerCount)
        var found = 0
        for info in file.tensors where info.name.hasPrefix("direction.") {
            guard let l = Int(info.name.dropFirst("direction.".count)), l >= 0, l < c.layerCount else {
                throw WorkbenchError("tensor '\(info.name)' names no block of this \(c.layerCount)-block model", file: path)
            }
            guard info.type == .f32 else { throw WorkbenchError("tensor '\(info.name)' is not F32 (GGUF type \(info.type.name))", file: path) }
            guard info.elementCount == c.hiddenSize else { throw WorkbenchError("tensor '\(info.name)' has \(info.elementCount) values, d = \(c.hiddenSize)", file: path) }
            rows[l] = try file.floatTensor(info.name).values
            found += 1
        }
        guard found > 0 else { throw WorkbenchError("no direction.{layer} tensors (not a control vector)", file: path) }
        return VectorFile.Vectors(rows: rows, source: path, isPerLayer: true)
    }
}
