import Formats
import Foundation
import FuzzSupport
import Model

/// Every vector format `lens inspect` and `--adapter` read: the first byte picks the format
/// (.bin, .npy, .safetensors, .gguf, an HDF5 dataset), the rest is the file, read for the
/// embedded model's width and depth.
let config = try! TransformerModel.load(directory: DefaultModel.directory).config
let formats = [".bin", ".npy", ".safetensors", ".gguf", ".h5"]

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let format = formats[Int(data[0]) % formats.count]
    let path = FuzzInput.write(data + 1, size - 1, suffix: format)
    defer { unlink(path) }
    _ = try? VectorFile.load(format == ".h5" ? path + ":/vectors" : path, config: config)
    return 0
}

@_cdecl("FuzzVectorFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
