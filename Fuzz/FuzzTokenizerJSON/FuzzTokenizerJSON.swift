import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.tokenizerJSON on every input.
@_cdecl("FuzzTokenizerJSON_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.tokenizerJSON(Data(bytes: data, count: size))
        return 0
    }
}
