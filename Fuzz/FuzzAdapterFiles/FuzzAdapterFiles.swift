import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.adapterFiles on every input.
@_cdecl("FuzzAdapterFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.adapterFiles(Data(bytes: data, count: size))
        return 0
    }
}
