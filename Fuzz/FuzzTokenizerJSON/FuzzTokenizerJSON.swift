import Foundation
import FuzzSupport
import Tokenizers

/// tokenizer.json: loaded, then used: a text with several scripts, digits, whitespace runs
/// and special-token look-alikes encoded and decoded back.
let probe = "Hello  world 12345\n\tünïcødé 日本語 🙂 <|endoftext|> <s>"

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzInput.write(data, size, suffix: ".json")
    defer { unlink(path) }
    if let tokenizer = try? Tokenizer.load(path: path) {
        let ids = tokenizer.encode(probe)
        _ = tokenizer.decode(ids, skipSpecialTokens: false)
        _ = tokenizer.decode(ids, skipSpecialTokens: true)
    }
    return 0
}

@_cdecl("FuzzTokenizerJSON_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzOne($0, $1) }
}
