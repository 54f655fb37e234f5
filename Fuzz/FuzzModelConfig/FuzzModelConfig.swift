import Foundation
import FuzzSupport
import Model

/// config.json: parsed into a ModelConfig (every field's type, range and consistency checked).
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? ModelConfig(json: Data(bytes: data, count: size), path: "config.json")
    return 0
}

@_cdecl("FuzzModelConfig_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
