import CHDF5
import CHDF5Probe
import Foundation
import Model

/// A small layer over libhdf5: float32 / float64 / int32 / UTF-8 string datasets, groups,
/// attributes, chunked gzip storage for large datasets, and reading back.
/// Writers go to a temporary name next to the target and are renamed into
/// place by `commit()`, so an interrupted run never leaves a half-written file.
public final class HDF5Writer {
    public let path: String
    let temporaryPath: String
    private var file: hid_t
    private var committed = false

    /// Datasets with more elements than this are chunked and gzip-compressed.
    public static let compressionThreshold = 65_536

    public init(path: String) throws {
        wb_h5_silence_errors()
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        try makeDirectory(dir)
        temporaryPath = temporaryName(for: path)
        file = H5Fcreate(temporaryPath, wb_h5f_acc_trunc(), wb_h5p_default(), wb_h5p_default())
        guard file >= 0 else { throw WorkbenchError("cannot create HDF5 file", file: path) }
    }

    deinit {
        if file >= 0 { H5Fclose(file) }
        if !committed { unlink(temporaryPath) }
    }

    /// Closes the file and moves it to its final name.
    public func commit() throws {
        guard !committed else { return }
        H5Fclose(file)
        file = -1
        guard rename(temporaryPath, path) == 0 else {
            throw WorkbenchError("cannot move the finished file into place (\(String(cString: strerror(errno))))", file: path)
        }
        committed = true
    }

    private func fail(_ what: String) -> WorkbenchError { WorkbenchError("HDF5: \(what)", file: path) }

    /// Link-creation properties that create missing parent groups ("a/b/c").
    private func linkProperties() -> hid_t {
        let lcpl = H5Pcreate(wb_h5p_link_create())
        H5Pset_create_intermediate_group(lcpl, 1)
        return lcpl
    }

    private func createDataset(_ name: String, type: hid_t, shape: [Int], compress: Bool = true) throws -> hid_t {
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), dims, nil)
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(wb_h5p_dataset_create())
        defer { H5Pclose(dcpl) }
        let count = shape.reduce(1, *)
        if compress, count > Self.compressionThreshold, !shape.isEmpty {
            H5Pset_chunk(dcpl, Int32(shape.count), Self.chunkShape(shape).map { hsize_t($0) })
            H5Pset_deflate(dcpl, 4)
        }
        let lcpl = linkProperties()
        defer { H5Pclose(lcpl) }
        let ds = H5Dcreate2(file, name, type, space, lcpl, dcpl, wb_h5p_default())
        guard ds >= 0 else { throw fail("cannot create dataset '\(name)' (does it already exist?)") }
        return ds
    }

    /// About 1 MiB chunks: whole trailing dimensions, as many leading rows as fit.
    static func chunkShape(_ shape: [Int]) -> [Int] {
        var chunk = shape.map { max($0, 1) }
        var i = 0
        while chunk.reduce(1, *) > 262_144 && i < chunk.count {
            let rest = chunk.reduce(1, *) / chunk[i]
            chunk[i] = max(1, 262_144 / max(rest, 1))
            i += 1
        }
        return chunk
    }

    /// A dataset of `shape` whose values, of HDF5 memory type `type`, start at `values`.
    private func writeNumbers(_ name: String, shape: [Int], type: hid_t, compress: Bool, _ values: UnsafeRawPointer) throws {
        let ds = try createDataset(name, type: type, shape: shape, compress: compress)
        defer { H5Dclose(ds) }
        guard H5Dwrite(ds, type, wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), values) >= 0 else {
            throw fail("cannot write dataset '\(name)'")
        }
    }

    public func writeFloats(_ name: String, shape: [Int], _ values: UnsafePointer<Float>) throws {
        try writeNumbers(name, shape: shape, type: wb_h5t_native_float(), compress: true, values)
    }

    public func writeFloats(_ name: String, shape: [Int], _ values: [Float]) throws {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        try values.withUnsafeBufferPointer { try writeFloats(name, shape: shape, $0.baseAddress!) }
    }

    /// A float64 dataset, stored uncompressed (checkpoint sums: written often, read once).
    public func writeDoubles(_ name: String, shape: [Int], _ values: UnsafePointer<Double>) throws {
        try writeNumbers(name, shape: shape, type: wb_h5t_native_double(), compress: false, values)
    }

    public func writeDoubles(_ name: String, shape: [Int], _ values: [Double]) throws {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        try values.withUnsafeBufferPointer { try writeDoubles(name, shape: shape, $0.baseAddress!) }
    }

    public func write(_ name: String, tensor: Tensor) throws {
        try writeFloats(name, shape: tensor.shape, tensor.data)
    }

    public func writeInt32(_ name: String, shape: [Int], _ values: [Int]) throws {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        let v = values.map { Int32(truncatingIfNeeded: $0) }
        let ds = try createDataset(name, type: wb_h5t_native_int32(), shape: shape)
        defer { H5Dclose(ds) }
        let ok = v.withUnsafeBufferPointer {
            H5Dwrite(ds, wb_h5t_native_int32(), wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), $0.baseAddress!) >= 0
        }
        guard ok else { throw fail("cannot write dataset '\(name)'") }
    }

    /// A dataset of variable-length UTF-8 strings (h5py reads them as str); 1-D unless `shape` is given.
    public func writeStrings(_ name: String, shape: [Int]? = nil, _ values: [String]) throws {
        precondition(shape == nil || values.count == shape!.reduce(1, *), "\(name): \(values.count) strings for shape \(shape!)")
        let type = Self.utf8StringType()
        defer { H5Tclose(type) }
        let ds = try createDataset(name, type: type, shape: shape ?? [values.count])
        defer { H5Dclose(ds) }
        let cStrings = values.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let ok = cStrings.withUnsafeBufferPointer {
            H5Dwrite(ds, type, wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), $0.baseAddress!) >= 0
        }
        guard ok else { throw fail("cannot write dataset '\(name)'") }
    }

    static func utf8StringType() -> hid_t {
        let t = H5Tcopy(wb_h5t_c_s1())
        H5Tset_size(t, wb_h5t_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    /// Creates a group (and its parents); attributes can then be set on it.
    public func createGroup(_ name: String) throws {
        let lcpl = linkProperties()
        defer { H5Pclose(lcpl) }
        let g = H5Gcreate2(file, name, lcpl, wb_h5p_default(), wb_h5p_default())
        guard g >= 0 else { throw fail("cannot create group '\(name)'") }
        H5Gclose(g)
    }

    /// An attribute value.
    public enum Attribute {
        case string(String), int(Int), double(Double), floats([Float])
    }

    /// Sets an attribute on the object at `object` ("/" for the file itself).
    public func setAttribute(_ name: String, _ value: Attribute, on object: String = "/") throws {
        let obj = H5Oopen(file, object, wb_h5p_default())
        guard obj >= 0 else { throw fail("no object '\(object)' to attach attribute '\(name)' to") }
        defer { H5Oclose(obj) }
        if H5Aexists(obj, name) > 0 { H5Adelete(obj, name) }
        func write(type: hid_t, space: hid_t, _ body: (hid_t) -> herr_t) throws {
            let attr = H5Acreate2(obj, name, type, space, wb_h5p_default(), wb_h5p_default())
            guard attr >= 0 else { throw fail("cannot create attribute '\(name)'") }
            defer { H5Aclose(attr) }
            guard body(attr) >= 0 else { throw fail("cannot write attribute '\(name)'") }
        }
        switch value {
        case .string(let s):
            let type = Self.utf8StringType()
            defer { H5Tclose(type) }
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let c = strdup(s)
            defer { free(c) }
            var ptr: UnsafeMutablePointer<CChar>? = c
            try write(type: type, space: space) { H5Awrite($0, type, &ptr) }
        case .int(let i):
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            var v = Int64(i)
            try write(type: wb_h5t_native_int64(), space: space) { H5Awrite($0, wb_h5t_native_int64(), &v) }
        case .double(let d):
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            var v = d
            try write(type: wb_h5t_native_double(), space: space) { H5Awrite($0, wb_h5t_native_double(), &v) }
        case .floats(let f):
            var dims = [hsize_t(f.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            try write(type: wb_h5t_native_float(), space: space) { attr in
                f.withUnsafeBufferPointer { H5Awrite(attr, wb_h5t_native_float(), $0.baseAddress!) }
            }
        }
    }
}

/// Reads datasets and attributes back from an HDF5 file.
public final class HDF5Reader {
    public let path: String
    private let file: hid_t

    public init(path: String) throws {
        wb_h5_silence_errors()
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw WorkbenchError("no such file", file: path) }
        guard H5Fis_hdf5(path) > 0 else { throw WorkbenchError("not an HDF5 file", file: path) }
        // libhdf5 1.10 follows a string's reference into the file's global heap unchecked, so a
        // corrupt one crashes it (or makes it loop) inside any read; a child process reads every
        // string first, allowed 2 s plus 1 s per 4 MB of file.
        var info = stat()
        let megabytes = stat(path, &info) == 0 ? Int(info.st_size) >> 20 : 0
        guard wb_h5_probe_strings(path, UInt32(clamping: 2 + megabytes / 4)) != 1 else {
            throw WorkbenchError("corrupt HDF5 file: libhdf5 crashes or hangs reading its strings", file: path)
        }
        file = H5Fopen(path, wb_h5f_acc_rdonly(), wb_h5p_default())
        guard file >= 0 else { throw WorkbenchError("cannot open HDF5 file", file: path) }
    }

    deinit { H5Fclose(file) }

    private func fail(_ what: String) -> WorkbenchError { WorkbenchError("HDF5: \(what)", file: path) }

    public func contains(_ name: String) -> Bool {
        // Check each prefix: H5Lexists fails on a missing intermediate group.
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(file, prefix, wb_h5p_default()) <= 0 { return false }
        }
        return true
    }

    private func open(_ name: String) throws -> hid_t {
        guard contains(name) else { throw fail("no dataset '\(name)'") }
        let ds = H5Dopen2(file, name, wb_h5p_default())
        guard ds >= 0 else { throw fail("'\(name)' is not a dataset") }
        return ds
    }

    /// The shape of dataset `name`.
    public func shape(_ name: String) throws -> [Int] {
        let ds = try open(name)
        defer { H5Dclose(ds) }
        return try shape(of: ds, name: name)
    }

    private func shape(of ds: hid_t, name: String) throws -> [Int] {
        let space = H5Dget_space(ds)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 32 else { throw fail("'\(name)' has no readable shape") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        guard dims.allSatisfy({ $0 <= hsize_t(Int32.max) }) else { throw fail("'\(name)' claims a dimension of more than 2^31 values") }
        return rank == 0 ? [] : dims.prefix(rank).map { Int($0) }
    }

    /// The number of values of a dataset, refused when its shape claims more than the bytes
    /// stored for it can hold (deflate, the one filter the workbench writes, expands at most
    /// 1032:1), so that a lying header is caught before any allocation.
    private func valueCount(of ds: hid_t, shape: [Int], name: String) throws -> Int {
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("'\(name)' claims more values than can be counted") }
            count = product
        }
        let stored = Int(clamping: H5Dget_storage_size(ds))
        guard count <= stored.multipliedReportingOverflow(by: 1032).partialValue + 64 else {
            throw fail("'\(name)' claims \(count) values, more than its \(stored) stored bytes can hold")
        }
        return count
    }

    /// Opens dataset `name` and hands it to `body` with its shape and its checked value count.
    private func withDataset<R>(_ name: String, _ body: (_ dataset: hid_t, _ shape: [Int], _ count: Int) throws -> R) throws -> R {
        let ds = try open(name)
        defer { H5Dclose(ds) }
        let shape = try shape(of: ds, name: name)
        return try body(ds, shape, try valueCount(of: ds, shape: shape, name: name))
    }

    /// Reads a whole numeric dataset converted by HDF5 to `memoryType`.
    private func read<T: Numeric>(_ name: String, as memoryType: hid_t, typeName: String) throws -> (shape: [Int], values: [T]) {
        try withDataset(name) { ds, shape, count in
            var values = [T](repeating: 0, count: count)
            let ok = values.withUnsafeMutableBufferPointer {
                H5Dread(ds, memoryType, wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), $0.baseAddress!) >= 0
            }
            guard ok else { throw fail("cannot read '\(name)' as \(typeName)") }
            return (shape, values)
        }
    }

    public func readFloats(_ name: String) throws -> (shape: [Int], values: [Float]) {
        try read(name, as: wb_h5t_native_float(), typeName: "float32")
    }

    public func readDoubles(_ name: String) throws -> (shape: [Int], values: [Double]) {
        try read(name, as: wb_h5t_native_double(), typeName: "float64")
    }

    /// Reads a numeric dataset of exactly `shape` as float64 into `buffer` (no second copy).
    public func readDoubles(_ name: String, shape expected: [Int], into buffer: UnsafeMutablePointer<Double>) throws {
        try withDataset(name) { ds, shape, _ in
            guard shape == expected else { throw fail("'\(name)' has shape \(shape), expected \(expected)") }
            guard H5Dread(ds, wb_h5t_native_double(), wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), buffer) >= 0 else {
                throw fail("cannot read '\(name)' as float64")
            }
        }
    }

    public func readInts(_ name: String) throws -> (shape: [Int], values: [Int]) {
        let (shape, values): ([Int], [Int64]) = try read(name, as: wb_h5t_native_int64(), typeName: "integers")
        return (shape, values.map { Int($0) })
    }

    public func readStrings(_ name: String) throws -> [String] {
        let ds = try open(name)
        defer { H5Dclose(ds) }
        let count = try valueCount(of: ds, shape: try shape(of: ds, name: name), name: name)
        let type = HDF5Writer.utf8StringType()
        defer { H5Tclose(type) }
        var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        let ok = ptrs.withUnsafeMutableBufferPointer {
            H5Dread(ds, type, wb_h5s_all(), wb_h5s_all(), wb_h5p_default(), $0.baseAddress!) >= 0
        }
        guard ok else { throw fail("cannot read '\(name)' as strings") }
        defer { ptrs.forEach { if let p = $0 { H5free_memory(p) } } }
        return ptrs.map { $0.map { String(cString: $0) } ?? "" }
    }

    /// A string attribute of `object` ("/" for the file), or nil when absent.
    public func stringAttribute(_ name: String, of object: String = "/") throws -> String? {
        try withAttribute(name, of: object) { attr in
            let type = HDF5Writer.utf8StringType()
            defer { H5Tclose(type) }
            var ptr: UnsafeMutablePointer<CChar>?
            guard H5Aread(attr, type, &ptr) >= 0, let p = ptr else { throw fail("attribute '\(name)' is not a string") }
            defer { H5free_memory(p) }
            return String(cString: p)
        }
    }

    /// A numeric scalar attribute as Double, or nil when absent.
    public func numberAttribute(_ name: String, of object: String = "/") throws -> Double? {
        try withAttribute(name, of: object) { attr in
            var v: Double = 0
            guard H5Aread(attr, wb_h5t_native_double(), &v) >= 0 else { throw fail("attribute '\(name)' is not numeric") }
            return v
        }
    }

    /// Opens attribute `name` of `object` for `read`; nil when the object has no such attribute.
    private func withAttribute<T>(_ name: String, of object: String, _ read: (hid_t) throws -> T) throws -> T? {
        let obj = H5Oopen(file, object, wb_h5p_default())
        guard obj >= 0 else { throw fail("no object '\(object)'") }
        defer { H5Oclose(obj) }
        guard H5Aexists(obj, name) > 0 else { return nil }
        let attr = H5Aopen(obj, name, wb_h5p_default())
        defer { H5Aclose(attr) }
        return try read(attr)
    }
}
