import Foundation

/// Memory that holds float32 values: either owned (allocated here) or borrowed
/// from a memory-mapped file that `keepAlive` keeps open. Weights loaded from an
/// f32 safetensors file borrow the mapping, so the file is never copied.
public final class FloatStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owned: Bool
    private let keepAlive: AnyObject?

    /// Allocates `count` zero-initialised floats.
    public init(zeros count: Int) {
        pointer = BufferPool.shared.take(count)
        pointer.initialize(repeating: 0, count: max(count, 1))
        self.count = count
        owned = true
        keepAlive = nil
    }

    /// `count` floats left as they are: only for buffers whose every value is written
    /// before it is read (work buffers a pass fills completely).
    public init(uninitialized count: Int) {
        pointer = BufferPool.shared.take(count)
        self.count = count
        owned = true
        keepAlive = nil
    }

    /// A copy of `count` floats at `source` (no zero-fill first).
    public init(copying source: UnsafePointer<Float>, count: Int) {
        pointer = BufferPool.shared.take(count)
        pointer.initialize(from: source, count: count)
        self.count = count
        owned = true
        keepAlive = nil
    }

    public convenience init(_ values: [Float]) {
        self.init(zeros: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Borrows memory owned by `owner` (read-only by convention: never write through it).
    init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = UnsafeMutablePointer(mutating: pointer)
        self.count = count
        owned = false
        keepAlive = owner
    }

    deinit { if owned { BufferPool.shared.give(pointer, count: count) } }

    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }

    /// Whether the memory is the workbench's own (writable), not a borrowed file mapping.
    public var isOwned: Bool { owned }
}

/// A dense row-major float32 tensor.
public struct Tensor: @unchecked Sendable {
    public var shape: [Int]
    public let storage: FloatStorage

    public init(shape: [Int], storage: FloatStorage) {
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: FloatStorage(zeros: shape.reduce(1, *)))
    }

    /// See `FloatStorage(uninitialized:)`: every value must be written before it is read.
    public init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: FloatStorage(uninitialized: shape.reduce(1, *)))
    }

    public init(shape: [Int], values: [Float]) {
        self.init(shape: shape, storage: FloatStorage(values))
    }

    /// An owned copy with its own storage.
    public func copy() -> Tensor {
        Tensor(shape: shape, storage: FloatStorage(copying: data, count: count))
    }

    public var count: Int { storage.count }
    public var data: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    public var mutableData: UnsafeMutablePointer<Float> { storage.pointer }
    public var values: [Float] { Array(storage.buffer) }

    /// Row `i` of a tensor viewed as [shape[0], rest].
    public func row(_ i: Int) -> UnsafePointer<Float> {
        data + i * (count / shape[0])
    }
}
