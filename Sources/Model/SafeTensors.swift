import Foundation

/// A read-only memory mapping of a whole file, unmapped when released.
package final class MappedFile: @unchecked Sendable {
    package let base: UnsafeRawPointer
    package let length: Int
    package let path: String

    package init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw WorkbenchError(errno == ENOENT ? "no such file" : "cannot open (\(String(cString: strerror(errno))))", file: path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw WorkbenchError("cannot stat", file: path) }
        length = Int(st.st_size)
        if length == 0 {
            base = UnsafeRawPointer(bitPattern: 1)!  // never dereferenced: callers check length
            return
        }
        guard let p = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw WorkbenchError("cannot memory-map (\(String(cString: strerror(errno))))", file: path)
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if length > 0 { munmap(UnsafeMutableRawPointer(mutating: base), length) }
    }
}

/// Element types of the safetensors format.
public enum SafeTensorsDType: String, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorInfo: Sendable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let begin: Int
    public let end: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed, validated safetensors file (https://github.com/huggingface/safetensors):
/// 8-byte little-endian header length N, N bytes of JSON header, then the data.
/// The file is memory-mapped; f32 tensors are returned without copying.
public final class SafeTensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    public let tensors: [String: SafeTensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        func fail(_ message: String) -> WorkbenchError { WorkbenchError(message, file: path) }
        guard file.length >= 8 else { throw fail("not a safetensors file: shorter than its 8-byte header length") }
        // Compared as UInt64 first: a length of 2^63 or more does not fit in an Int.
        let rawLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard rawLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("safetensors header of \(rawLength) bytes exceeds the 100 MB limit")
        }
        let headerLength = Int(rawLength)
        guard headerLength >= 2, 8 + headerLength <= file.length else {
            throw fail("safetensors header length \(headerLength) does not fit in a file of \(file.length) bytes")
        }
        dataStart = 8 + headerLength
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard headerData.first == UInt8(ascii: "{") else { throw fail("safetensors header does not start with '{'") }
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let dict = json as? [String: Any] else {
            throw fail("safetensors header is not a JSON object")
        }
        var infos: [String: SafeTensorInfo] = [:]
        var meta: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let dtypeName = entry["dtype"] as? String else { throw fail("tensor '\(name)': missing dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)': unknown dtype \(dtypeName)")
            }
            guard let shapeAny = entry["shape"] as? [Any], let shape = Self.nonNegativeInts(shapeAny) else {
                throw fail("tensor '\(name)': shape must be a list of non-negative integers")
            }
            guard let offAny = entry["data_offsets"] as? [Any], let offsets = Self.nonNegativeInts(offAny),
                  offsets.count == 2, offsets[0] <= offsets[1] else {
                throw fail("tensor '\(name)': data_offsets must be [begin, end] with begin <= end")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, count.multipliedReportingOverflow(by: dtype.byteSize).overflow == false,
                  count * dtype.byteSize == offsets[1] - offsets[0] else {
                throw fail("tensor '\(name)': shape \(shape) × \(dtypeName) needs \(count * dtype.byteSize) bytes but data_offsets span \(offsets[1] - offsets[0])")
            }
            infos[name] = SafeTensorInfo(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        // The data section must be covered exactly, tensor after tensor, without holes or overlaps.
        let dataLength = file.length - dataStart
        var cursor = 0
        for info in infos.values.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard info.begin == cursor else {
                throw fail(info.begin < cursor
                    ? "tensor '\(info.name)' overlaps the previous tensor (offset \(info.begin) < \(cursor))"
                    : "hole in the data section before tensor '\(info.name)' (offset \(info.begin), expected \(cursor))")
            }
            cursor = info.end
        }
        guard cursor == dataLength else {
            throw fail(cursor > dataLength
                ? "tensor data ends at byte \(cursor) past the end of the file's data section (\(dataLength) bytes): file truncated?"
                : "data section has \(dataLength - cursor) trailing bytes not covered by any tensor")
        }
        tensors = infos
        metadata = meta
    }

    private static func nonNegativeInts(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.doubleValue >= 0,
                  n.doubleValue < 9.0e18 else { return nil }
            out.append(Int(n.int64Value))
        }
        return out
    }

    public func info(_ name: String) throws -> SafeTensorInfo {
        guard let info = tensors[name] else { throw WorkbenchError("missing tensor '\(name)'", file: path) }
        return info
    }

    /// Raw bytes of a tensor inside the mapping.
    public func rawPointer(_ info: SafeTensorInfo) -> UnsafeRawPointer { file.base + dataStart + info.begin }

    /// The tensor as float32. F32 data is borrowed from the mapping when aligned;
    /// F16 and BF16 are converted (both cores), other dtypes are refused.
    public func floatTensor(_ name: String) throws -> Tensor {
        let info = try info(name)
        let count = info.elementCount
        let src = rawPointer(info)
        switch info.dtype {
        case .f32:
            if Int(bitPattern: src) % MemoryLayout<Float>.alignment == 0 {
                let storage = FloatStorage(borrowing: src.assumingMemoryBound(to: Float.self), count: count, owner: file)
                return Tensor(shape: info.shape, storage: storage)
            }
            let storage = FloatStorage(zeros: count)
            UnsafeMutableRawPointer(storage.pointer).copyMemory(from: src, byteCount: count * 4)
            return Tensor(shape: info.shape, storage: storage)
        case .bf16, .f16:
            let storage = FloatStorage(zeros: count)
            let out = storage.pointer
            let isBF16 = info.dtype == .bf16
            Parallel.forEachChunk(count) { range in
                for i in range {
                    let bits = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = isBF16 ? Float(bitPattern: UInt32(bits) << 16) : Float(Float16(bitPattern: bits))
                }
            }
            return Tensor(shape: info.shape, storage: storage)
        default:
            throw WorkbenchError("tensor '\(name)' has dtype \(info.dtype.rawValue); only F32, F16 and BF16 are supported", file: path)
        }
    }

    /// An integer tensor (I32 or I64) as Int values, e.g. token ids in a fixture.
    public func intValues(_ name: String) throws -> [Int] {
        let info = try info(name)
        let src = rawPointer(info)
        switch info.dtype {
        case .i32: return (0..<info.elementCount).map { Int(src.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i64: return (0..<info.elementCount).map { Int(src.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        default: throw WorkbenchError("tensor '\(name)' has dtype \(info.dtype.rawValue), expected I32 or I64", file: path)
        }
    }
}
