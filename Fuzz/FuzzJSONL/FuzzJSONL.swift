import Corpus
import Foundation
import FuzzSupport

/// A .jsonl file read as a corpus (documents with ids, then bad lines skipped) and as
/// queries / problems (each field optional).
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzInput.write(data, size, suffix: ".jsonl")
    defer { unlink(path) }
    for skipBad in [false, true] {
        if let stream = try? DocumentStream(path: path, requireIDs: true, skipBad: skipBad) {
            _ = try? stream.catalogue()
        }
    }
    _ = try? Query.load(path, requiring: [])
    _ = try? Query.load(path, requiring: [.completion])
    return 0
}

@_cdecl("FuzzJSONL_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
