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

/// llama.cpp control vectors: a GGUF file whose tensors are `direction.{l}` (F32, [d]).
/// Every count, size and offset the file states is checked against the bytes it has before
/// it is used, so a lying header is refused, never trusted.
enum GGUFControlVector {
    static func load(_ path: String, config c: ModelConfig) throws -> VectorFile.Vectors {
        let data = try readFile(path)
        var r = GGUFReader(bytes: [UInt8](data), path: path)
        guard try r.bytes(4) == Array("GGUF".utf8) else { throw WorkbenchError("not a GGUF file (bad magic)", file: path) }
        let version = try r.u32()
        guard version == 2 || version == 3 else { throw WorkbenchError("GGUF version \(version) is not supported (2 or 3)", file: path) }
        // Every tensor info and key-value pair takes at least one byte.
        let tensorCount = try r.count("tensors"), kvCount = try r.count("metadata entries")
        var alignment = 32
        for _ in 0..<kvCount {
            let key = try r.string()
            let type = try r.u32()
            if key == "general.alignment", type == 4 {
                alignment = Int(try r.u32())
                guard alignment > 0, alignment <= 1 << 20 else { throw WorkbenchError("general.alignment \(alignment) is not a usable alignment", file: path) }
            } else { try r.skipValue(type: type) }
        }
        var infos: [(name: String, dims: [Int], type: UInt32, offset: Int)] = []
        for _ in 0..<tensorCount {
            let name = try r.string()
            let nDims = Int(try r.u32())
            guard nDims <= 4 else { throw WorkbenchError("tensor '\(name)' has \(nDims) dimensions (GGUF allows 4)", file: path) }
            var dims: [Int] = []
            for _ in 0..<nDims { dims.append(try r.size("a dimension of '\(name)'")) }
            infos.append((name, dims, try r.u32(), try r.size("the offset of '\(name)'")))
        }
        let dataStart = (r.pos + alignment - 1) / alignment * alignment
        var rows = [[Float]](repeating: [Float](repeating: 0, count: c.hiddenSize), count: c.layerCount)
        var found = 0
        for info in infos where info.name.hasPrefix("direction.") {
            guard let l = Int(info.name.dropFirst("direction.".count)), l >= 0, l < c.layerCount else {
                throw WorkbenchError("tensor '\(info.name)' names no block of this \(c.layerCount)-block model", file: path)
            }
            guard info.type == 0 else { throw WorkbenchError("tensor '\(info.name)' is not F32 (GGUF type \(info.type))", file: path) }
            // Dimensions are each at most the file's size, so their product is checked as it grows.
            var count = 1
            for d in info.dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= data.count else { throw WorkbenchError("tensor '\(info.name)' claims more values than the file holds", file: path) }
                count = product
            }
            guard count == c.hiddenSize else { throw WorkbenchError("tensor '\(info.name)' has \(count) values, d = \(c.hiddenSize)", file: path) }
            let start = dataStart + info.offset
            guard start + 4 * count <= data.count else { throw WorkbenchError("tensor '\(info.name)' runs past the end of the file", file: path) }
            rows[l] = data.withUnsafeBytes { raw in (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self)) } }
            found += 1
        }
        guard found > 0 else { throw WorkbenchError("no direction.{layer} tensors (not a control vector)", file: path) }
        return VectorFile.Vectors(rows: rows, source: path, isPerLayer: true)
    }
}

struct GGUFReader {
    let bytes: [UInt8]
    let path: String
    var pos = 0

    var remaining: Int { bytes.count - pos }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try advance(n)
        return Array(bytes[(pos - n)..<pos])
    }
    mutating func advance(_ n: Int) throws {
        guard n >= 0, n <= remaining else { throw WorkbenchError("GGUF file truncated at byte \(pos)", file: path) }
        pos += n
    }
    mutating func u32() throws -> UInt32 { try bytes(4).enumerated().reduce(0) { $0 | UInt32($1.1) << (8 * UInt32($1.0)) } }
    mutating func u64() throws -> UInt64 { try bytes(8).enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) } }
    /// A stated number of items of at least one byte each: no more than the bytes left.
    mutating func count(_ what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(remaining) else { throw WorkbenchError("claims \(n) \(what), more than the file's \(bytes.count) bytes can hold", file: path) }
        return Int(n)
    }
    /// A stated size or offset in bytes or values: no more than the file's size.
    mutating func size(_ what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(bytes.count) else { throw WorkbenchError("\(what) is \(n), beyond the file's \(bytes.count) bytes", file: path) }
        return Int(n)
    }
    mutating func string() throws -> String {
        String(decoding: try bytes(try count("string bytes")), as: UTF8.self)
    }
    /// Skips a metadata value of GGUF type `type` (arrays nest at most 8 deep).
    mutating func skipValue(type: UInt32, depth: Int = 0) throws {
        guard depth <= 8 else { throw WorkbenchError("metadata arrays nested more than 8 deep", file: path) }
        let fixed: [UInt32: Int] = [0: 1, 1: 1, 7: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8]
        if let size = fixed[type] { return try advance(size) }
        switch type {
        case 8: _ = try string()
        case 9:
            let inner = try u32()
            let n = try count("array elements")
            if let size = fixed[inner] {
                let (total, overflow) = n.multipliedReportingOverflow(by: size)
                guard !overflow else { throw WorkbenchError("GGUF file truncated at byte \(pos)", file: path) }
                try advance(total)
            } else {
                for _ in 0..<n { try skipValue(type: inner, depth: depth + 1) }
            }
        default: throw WorkbenchError("unknown GGUF metadata type \(type)", file: path)
        }
    }
}
