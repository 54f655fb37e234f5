import Foundation
import FuzzReaders
import FuzzSupport

/// libFuzzer target: FuzzReaders.jsonl on every input.
@_cdecl("FuzzJSONL_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in
        FuzzReaders.jsonl(Data(bytes: data, count: size))
        return 0
    }
}
