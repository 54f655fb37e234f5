import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.modelConfig on every input.
@_cdecl("FuzzModelConfig_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.modelConfig(Data(bytes: data, count: size))
        return 0
    }
}
