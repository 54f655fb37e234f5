import Foundation
import Model

/// A GGUF file (llama.cpp's model and adapter container), versions 2 and 3, little-endian:
/// magic `GGUF`, version, tensor count, metadata count, the typed key/value pairs, the
/// tensor infos (name, dimensions, GGML type, offset), padding to `general.alignment`, the data.
///
/// The file is memory-mapped. Every count, length, dimension and offset the header states is
/// checked against the bytes the file has before anything is allocated for it, so a header
/// that lies is refused with one line, never trusted.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    private let file: MappedFile
    private let dataStart: Int
    private let byKey: [String: Int]
    private let byName: [String: Int]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = GGUFCursor(base: file.base, length: file.length, path: path)
        guard file.length >= 4, try r.bytes(4) == Array("GGUF".utf8) else {
            throw WorkbenchError("not a GGUF file (bad magic)", file: path)
        }
        let rawVersion = try r.u32()
        if rawVersion & 0xFFFF == 0, rawVersion.byteSwapped <= 3 {
            throw WorkbenchError("big-endian GGUF file (version \(rawVersion.byteSwapped)); only little-endian files are supported", file: path)
        }
        guard rawVersion == 2 || rawVersion == 3 else {
            throw WorkbenchError("GGUF version \(rawVersion) is not supported (2 or 3)", file: path)
        }
        version = rawVersion
        let tensorCount = try r.count("tensors"), kvCount = try r.count("metadata entries")
        var metadata: [(key: String, value: GGUFValue)] = []
        var byKey: [String: Int] = [:]
        for _ in 0..<kvCount {
            let key = try r.string()
            let value = try r.value(type: try r.u32())
            if byKey[key] != nil { throw WorkbenchError("metadata key '\(key)' appears twice", file: path) }
            byKey[key] = metadata.count
            metadata.append((key, value))
        }
        var alignment = 32
        if let i = byKey["general.alignment"] {
            guard case .unsigned(let a) = metadata[i].value, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw WorkbenchError("general.alignment must be a power of two up to 2^20, got \(metadata[i].value)", file: path)
            }
            alignment = Int(a)
        }
        var tensors: [GGUFTensorInfo] = []
        var byName: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try r.string()
            let nDims = Int(try r.u32())
            guard nDims >= 1, nDims <= 4 else { throw WorkbenchError("tensor '\(name)' has \(nDims) dimensions (GGUF allows 1 to 4)", file: path) }
            var dims: [Int] = []
            for _ in 0..<nDims { dims.append(try r.dimension(of: name)) }
            let typeCode = try r.u32()
            guard let type = GGMLType(rawValue: typeCode) else {
                throw WorkbenchError("tensor '\(name)' has unknown GGML type \(typeCode)", file: path)
            }
            let offset = try r.size("the offset of '\(name)'")
            guard byName[name] == nil else { throw WorkbenchError("tensor '\(name)' appears twice", file: path) }
            byName[name] = tensors.count
            tensors.append(try GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: offset, fileLength: file.length, path: path))
        }
        dataStart = (r.position + alignment - 1) / alignment * alignment
        let dataLength = file.length - dataStart
        for t in tensors {
            guard t.offset % alignment == 0 else {
                throw WorkbenchError("tensor '\(t.name)' starts at offset \(t.offset), not a multiple of the alignment \(alignment)", file: path)
            }
            guard dataLength >= 0, t.offset <= dataLength, t.byteCount <= dataLength - t.offset else {
                throw WorkbenchError("tensor '\(t.name)' runs past the end of the file (offset \(t.offset) + \(t.byteCount) bytes, data section \(max(dataLength, 0)) bytes): file truncated?", file: path)
            }
        }
        self.metadata = metadata
        self.tensors = tensors
        self.alignment = alignment
        self.byKey = byKey
        self.byName = byName
    }

    public subscript(key: String) -> GGUFValue? { byKey[key].map { metadata[$0].value } }

    public func tensor(_ name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    /// The raw bytes of a tensor inside the mapping (valid while this file is alive).
    public func bytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: file.base + dataStart + info.offset, count: info.byteCount)
    }

    /// A tensor as float32 with its row-major shape (GGUF lists dimensions fastest first).
    public func floatTensor(_ name: String) throws -> Tensor {
        guard let info = tensor(name) else { throw WorkbenchError("missing tensor '\(name)'", file: path) }
        let out = Tensor(uninitialized: info.shape)
        try GGMLDequantization.dequantize(bytes(of: info), type: info.type, count: info.elementCount,
                                          into: out.mutableData, tensor: name, path: path)
        return out
    }

    // Typed metadata access: a missing key is nil, a key of the wrong type an error.

    public func int(_ key: String) throws -> Int? {
        guard let v = self[key] else { return nil }
        guard let i = v.int else { throw WorkbenchError("metadata '\(key)' should be an integer, got \(v)", file: path) }
        return i
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = v.double else { throw WorkbenchError("metadata '\(key)' should be a number, got \(v)", file: path) }
        return d
    }

    public func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard case .string(let s) = v else { throw WorkbenchError("metadata '\(key)' should be a string, got \(v)", file: path) }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard case .bool(let b) = v else { throw WorkbenchError("metadata '\(key)' should be a boolean, got \(v)", file: path) }
        return b
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let v = self[key] else { return nil }
        guard case .array(let items) = v else { throw WorkbenchError("metadata '\(key)' should be an array of strings", file: path) }
        return try items.map {
            guard case .string(let s) = $0 else { throw WorkbenchError("metadata '\(key)' should be an array of strings", file: path) }
            return s
        }
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let v = self[key] else { return nil }
        guard case .array(let items) = v else { throw WorkbenchError("metadata '\(key)' should be an array of integers", file: path) }
        return try items.map {
            guard let i = $0.int else { throw WorkbenchError("metadata '\(key)' should be an array of integers", file: path) }
            return i
        }
    }
}

/// One metadata value. Integers of every width are kept as signed or unsigned 64-bit
/// values, floats as Double.
public indirect enum GGUFValue: Sendable, CustomStringConvertible {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .unsigned(let u): return u <= UInt64(Int.max) ? Int(u) : nil
        case .signed(let s): return Int(s)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let d): return d
        case .unsigned, .signed: return int.map(Double.init)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .unsigned(let u): return "\(u)"
        case .signed(let s): return "\(s)"
        case .float(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        case .array(let items): return "[\(items.count) items]"
        }
    }
}

/// One tensor's entry in the header.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// As the file lists them: the fastest-varying dimension first (ggml's ne[0], ne[1], ...).
    public let dimensions: [Int]
    public let type: GGMLType
    /// From the start of the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// Row-major shape, as safetensors and the runtime write it: the dimensions reversed.
    public var shape: [Int] { dimensions.reversed() }

    init(name: String, dimensions: [Int], type: GGMLType, offset: Int, fileLength: Int, path: String) throws {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
        // Every dimension is at most the file's size; the product is checked as it grows.
        var count = 1
        for d in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= fileLength.multipliedReportingOverflow(by: 8).partialValue else {
                throw WorkbenchError("tensor '\(name)' claims \(dimensions) values, more than the file's \(fileLength) bytes can hold", file: path)
            }
            count = product
        }
        let (block, size) = type.blockLayout
        guard dimensions[0] % block == 0 else {
            throw WorkbenchError("tensor '\(name)': its first dimension \(dimensions[0]) is not a multiple of \(type.name)'s block of \(block)", file: path)
        }
        elementCount = count
        byteCount = count / block * size
    }
}

/// Reads the header's little-endian fields from the mapping, each bounds-checked.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let length: Int
    let path: String
    var position = 0

    var remaining: Int { length - position }

    func truncated() -> WorkbenchError { WorkbenchError("GGUF file truncated at byte \(position)", file: path) }

    mutating func advance(_ n: Int) throws -> UnsafeRawPointer {
        guard n >= 0, n <= remaining else { throw truncated() }
        defer { position += n }
        return base + position
    }
    mutating func bytes(_ n: Int) throws -> [UInt8] { Array(UnsafeRawBufferPointer(start: try advance(n), count: n)) }
    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        T(littleEndian: try advance(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    /// A stated number of items of at least one byte each: no more than the bytes left.
    mutating func count(_ what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(remaining) else {
            throw WorkbenchError("claims \(n) \(what), more than the file's \(length) bytes can hold", file: path)
        }
        return Int(n)
    }
    /// A stated size, dimension or offset: no more than the file's size.
    mutating func size(_ what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(length) else { throw WorkbenchError("\(what) is \(n), beyond the file's \(length) bytes", file: path) }
        return Int(n)
    }
    /// A tensor dimension: quantised types hold up to ~5 values a byte, so no more than 8 × the file's size.
    mutating func dimension(of tensor: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(length) * 8 else { throw WorkbenchError("a dimension of '\(tensor)' is \(n), more than the file's \(length) bytes can hold", file: path) }
        return Int(n)
    }
    mutating func string() throws -> String {
        let n = try count("string bytes")
        return String(decoding: UnsafeRawBufferPointer(start: try advance(n), count: n), as: UTF8.self)
    }

    /// Bytes of one value of a fixed-size metadata type (nil for string and array).
    static func fixedSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        default: return nil
        }
    }

    /// One metadata value of GGUF type `type` (arrays nest at most 8 deep).
    mutating func value(type: UInt32, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .unsigned(UInt64(try load(UInt8.self)))
        case 1: return .signed(Int64(try load(Int8.self)))
        case 2: return .unsigned(UInt64(try load(UInt16.self)))
        case 3: return .signed(Int64(try load(Int16.self)))
        case 4: return .unsigned(UInt64(try load(UInt32.self)))
        case 5: return .signed(Int64(try load(Int32.self)))
        case 6: return .float(Double(Float(bitPattern: try load(UInt32.self))))
        case 7:
            let b = try load(UInt8.self)
            guard b <= 1 else { throw WorkbenchError("boolean metadata value \(b) at byte \(position - 1) is neither 0 nor 1", file: path) }
            return .bool(b == 1)
        case 8: return .string(try string())
        case 9:
            guard depth < 8 else { throw WorkbenchError("metadata arrays nested more than 8 deep", file: path) }
            let inner = try u32()
            let n = try count("array elements")
            // Each element takes at least its fixed size, a string's 8-byte length, or an
            // array's type and count: a count the bytes left cannot hold is refused here.
            let smallest = Self.fixedSize(inner) ?? (inner == 8 ? 8 : 12)
            guard n <= remaining / smallest else { throw truncated() }
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: inner, depth: depth + 1)) }
            return .array(items)
        case 10: return .unsigned(try u64())
        case 11: return .signed(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw WorkbenchError("unknown GGUF metadata type \(type) at byte \(position - 4)", file: path)
        }
    }
}
