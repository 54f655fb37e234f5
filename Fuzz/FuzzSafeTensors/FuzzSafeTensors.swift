import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.safeTensors on every input.
@_cdecl("FuzzSafeTensors_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.safeTensors(Data(bytes: data, count: size))
        return 0
    }
}
