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
        var data = Data(capacity: 8 + headerBytes.count + offset)
        var length = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for (_, t) in tensors {
            switch type {
            case .f32:
                data.append(UnsafeBufferPointer(start: t.data, count: t.count))
            case .bf16:
                var out = [UInt16](repeating: 0, count: t.count)
                for i in 0..<t.count { out[i] = bfloat16Bits(t.data[i]) }
                out.withUnsafeBytes { data.append(contentsOf: $0) }
            }
        }
        try writeFileAtomically(data, to: path)
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
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw WorkbenchError("cannot create the directory", file: dir) }
    }
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data) else { throw WorkbenchError("cannot write", file: path) }
    guard rename(tmp, path) == 0 else {
        unlink(tmp)
        throw WorkbenchError("cannot move the finished file into place", file: path)
    }
}
