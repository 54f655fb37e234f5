import Foundation
import Model

public enum WorkbenchVersion {
    public static let current = "0.1.0"
}

/// A 64-bit content hash (FNV-1a over 8-byte words, then a final avalanche).
/// Not cryptographic: it tells files and models apart.
public struct ContentHash {
    private var state: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        let words = raw.count / 8
        var h = state
        for i in 0..<words {
            h = (h ^ raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
        }
        for i in (words * 8)..<raw.count {
            h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3
        }
        state = h
    }

    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }

    public var hex: String {
        var z = state
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        z ^= z >> 33
        let s = String(z, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension TransformerModel {
    /// Identifies the model a result came from: a hash of its config.json bytes
    /// (or the parsed config when there is no file) and its unembedding matrix.
    public var fingerprint: String {
        var h = ContentHash()
        if let dir = directory,
           let data = try? readFile((dir as NSString).appendingPathComponent("config.json")) {
            h.update(data)
        } else {
            h.update(Data(String(describing: config).utf8))
        }
        h.update(UnsafeRawBufferPointer(start: weights.unembedding.data, count: weights.unembedding.count * 4))
        return h.hex
    }
}

/// The attributes every result file carries (docs/formats.md).
public struct Provenance {
    public var commandLine: String
    public var modelDirectory: String
    public var modelHash: String
    public var created: Date

    public init(model: TransformerModel, commandLine: [String] = CommandLine.arguments, created: Date = Date()) {
        self.commandLine = commandLine.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        modelDirectory = model.directory.map(absolutePath) ?? "(in memory)"
        modelHash = model.fingerprint
        self.created = created
    }

    public func write(to file: HDF5Writer) throws {
        let iso = ISO8601DateFormatter()
        try file.setAttribute("tool", .string("workbench"))
        try file.setAttribute("tool_version", .string(WorkbenchVersion.current))
        try file.setAttribute("command_line", .string(commandLine))
        try file.setAttribute("model_dir", .string(modelDirectory))
        try file.setAttribute("model_hash", .string(modelHash))
        try file.setAttribute("created", .string(iso.string(from: created)))
    }
}
