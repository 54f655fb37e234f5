import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.modelFiles on every input.
@_cdecl("FuzzModelFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.modelFiles(Data(bytes: data, count: size))
        return 0
    }
}
