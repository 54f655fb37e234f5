import Foundation
import FuzzSupport
import Model
import Steering

/// The adapter files `--adapter`, `steer eval` and `steer export` read, for the embedded
/// model: the first byte picks the reader: a run's adapter.safetensors, a ReFT run's
/// reft.safetensors, or a PEFT directory whose adapter_config.json and
/// adapter_model.safetensors are the rest of the input cut at its first NUL byte.
let model = try! TransformerModel.load(directory: DefaultModel.directory)

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let body = data + 1, count = size - 1
    switch data[0] % 3 {
    case 0:
        let path = FuzzInput.write(body, count, suffix: "-adapter.safetensors")
        defer { unlink(path) }
        _ = try? WeightAdapter.load(path, model: model)
    case 1:
        let path = FuzzInput.write(body, count, suffix: "-reft.safetensors")
        defer { unlink(path) }
        _ = try? ReFTInterventions.load(path, config: model.config)
    default:
        let directory = NSTemporaryDirectory() + "workbench-fuzz-peft-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cut = (0..<count).first { body[$0] == 0 } ?? count
        FileManager.default.createFile(atPath: directory + "/adapter_config.json", contents: Data(bytes: body, count: cut))
        let rest = min(cut + 1, count)
        FileManager.default.createFile(atPath: directory + "/adapter_model.safetensors", contents: Data(bytes: body + rest, count: count - rest))
        _ = try? WeightAdapter.loadPEFT(directory, model: model)
    }
    return 0
}

@_cdecl("FuzzAdapterFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
