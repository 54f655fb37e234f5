import Foundation
import FuzzSupport
import Model

/// One safetensors file per input: parsed and validated, then every tensor read as float32.
/// A reader may refuse the input (a thrown error); it must never crash, hang or allocate
/// more than the file justifies.
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzInput.write(data, size)
    defer { unlink(path) }
    if let file = try? SafeTensorsFile(path: path) {
        for name in file.tensors.keys.sorted() { _ = try? file.floatTensor(name) }
    }
    return 0
}

@_cdecl("FuzzSafeTensors_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
