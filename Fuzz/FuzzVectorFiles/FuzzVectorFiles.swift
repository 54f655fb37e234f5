import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.vectorFile on every input.
@_cdecl("FuzzVectorFiles_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.vectorFile(Data(bytes: data, count: size))
        return 0
    }
}
