import Foundation

/// Writes a safetensors file: 8-byte little-endian header length, a JSON header
/// (padded with spaces to a multiple of 8 so tensor data stays aligned), then the
/// tensors back to back in the order given. Written to a temporary name and renamed.
public enum SafeTensorsWriter {
    public enum StorageType: String, Sendable { case f32 = "F32", bf16 = "BF16" }

    public static func write(_ tensors: [(name: String, tensor: Tensor)], to path: String, as type: StorageType = .f32,
                             metadata: [String: String] = ["format": "pt"]) throws {
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }
                .map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }.joined(separator: ",") + "},"
        }
        var offset = 0
        let width = type == .f32 ? 4 : 2
        var entries: [String] = []
        for (name, t) in tensors {
            let bytes = t.count * width
            entries.append("\(jsonQuoted(name)):{\"dtype\":\"\(type.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        // Streamed to the temporary file tensor by tensor: memory stays at one conversion chunk,
        // not the size of the file (a 0.5B model's checkpoint is 6 GB).
        try writeFileAtomically(to: path) { write in
            var length = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &length) { try write($0) }
            try headerBytes.withUnsafeBytes { try write($0) }
            for (_, t) in tensors {
                switch type {
                case .f32:
                    try write(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
                case .bf16:
                    let chunk = 1 << 20
                    var out = [UInt16](repeating: 0, count: min(chunk, t.count))
                    for start in stride(from: 0, to: t.count, by: chunk) {
                        let n = min(chunk, t.count - start)
                        for i in 0..<n { out[i] = bfloat16Bits(t.data[start + i]) }
                        try out.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<(2 * n)])) }
                    }
                }
            }
        }
    }

    /// Round-to-nearest-even float32 → bfloat16 (as torch's .to(torch.bfloat16)); NaN stays NaN.
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    /// `s` as a JSON string literal.
    public static func jsonQuoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// Writes `data` next to `path` under a temporary name, then renames it into place.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    try writeFileAtomically(to: path) { write in try data.withUnsafeBytes { try write($0) } }
}

/// Streams a file next to `path` under a temporary name through `body`'s `write` calls, then
/// renames it into place; on any error the temporary file is removed and `path` is untouched.
public func writeFileAtomically(to path: String, _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw WorkbenchError("cannot create the directory", file: dir) }
    }
    let tmp = temporaryName(for: path)
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw WorkbenchError("cannot write", file: path) }
    var closed = false
    defer { if !closed { close(fd); unlink(tmp) } }
    try body { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard n > 0 else { throw WorkbenchError("cannot write (\(String(cString: strerror(errno))))", file: path) }
            offset += n
        }
    }
    closed = true
    guard close(fd) == 0 else { unlink(tmp); throw WorkbenchError("cannot write (\(String(cString: strerror(errno))))", file: path) }
    guard rename(tmp, path) == 0 else {
        unlink(tmp)
        throw WorkbenchError("cannot move the finished file into place", file: path)
    }
}
