import Foundation
import Model
import XCTest

/// Locates the golden fixtures written by scripts/make_fixtures.py.
enum Fixtures {
    static let directory: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.appendingPathComponent("Fixtures").path
    }()

    static let names = ["llama_gqa_llama3rope", "llama_headdim_mqa_bf16", "qwen2_bias_tied_f16", "llama_sharded"]

    static func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    static func model(_ name: String) throws -> TransformerModel {
        try TransformerModel.load(directory: path(name))
    }

    static func reference(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: (path(name) as NSString).appendingPathComponent("reference.safetensors"))
    }

    /// A fresh temporary directory removed at process exit is not needed: callers clean up.
    static func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "workbench-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// max |a − b| over the given indices.
func maxAbsDiff(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, indices: [Int]) -> Float {
    var m: Float = 0
    for i in indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

func maxAbs(_ a: UnsafePointer<Float>, indices: [Int]) -> Float {
    var m: Float = 0
    for i in indices { m = max(m, abs(a[i])) }
    return m
}
