import Foundation
import Model

/// A message between ranks: numbers and arrays of numbers appended in order, read back in
/// the same order (native byte order: every rank of a job runs on the same kind of machine).
public struct MessageWriter {
    public private(set) var data = Data()
    public init() {}

    public mutating func append<T: BitwiseCopyable>(_ value: T) {
        withUnsafeBytes(of: value) { data.append(contentsOf: $0) }
    }

    public mutating func append<T: BitwiseCopyable>(_ values: [T]) {
        append(Int64(values.count))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
    }

    public mutating func append(_ text: String) { append(Array(text.utf8)) }
}

public struct MessageReader {
    private let data: Data
    private var offset = 0
    public init(_ data: Data) { self.data = data }

    public var isAtEnd: Bool { offset == data.count }

    public mutating func read<T: BitwiseCopyable>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= data.count else { throw WorkbenchError("a message between ranks ended early") }
        defer { offset += size }
        return data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }

    public mutating func readArray<T: BitwiseCopyable>(_: T.Type = T.self) throws -> [T] {
        let count = Int(try read(Int64.self))
        let bytes = count * MemoryLayout<T>.stride
        guard count >= 0, offset + bytes <= data.count else { throw WorkbenchError("a message between ranks ended early") }
        defer { offset += bytes }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + bytes)]))
            }
            initialized = count
        }
    }

    public mutating func readString() throws -> String { String(decoding: try readArray(UInt8.self), as: UTF8.self) }
}
