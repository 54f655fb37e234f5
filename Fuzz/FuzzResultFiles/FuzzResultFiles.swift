import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.resultFiles on every input.
@_cdecl("FuzzResultFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.resultFiles(Data(bytes: data, count: size))
        return 0
    }
}
