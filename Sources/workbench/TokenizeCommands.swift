import ArgumentParser
import CLICommon
import Formats
import Foundation
import Model
import Tokenizers

/// Where a command gets its tokenizer: --tokenizer FILE, or the tokenizer.json of --model.
struct TokenizerSource: ParsableArguments {
    @Option(help: "Hugging Face model directory or GGUF file whose tokenizer is used (default: the embedded model).")
    var model: String?

    @Option(help: "A tokenizer.json file (instead of --model).")
    var tokenizer: String?

    func load() throws -> Tokenizer {
        if let tokenizer { return try Tokenizer.load(path: tokenizer) }
        return try ModelSource(model).loadTokenizer()
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn text into token ids with a tokenizer.json.",
        discussion: """
        Prints the ids comma-separated (with --tokens, also the token strings). --json prints \
        {"ids": [...], "tokens": [...]}. With --lines, every line of --file is encoded on its own \
        and printed as one output line.
        """)

    @OptionGroup var source: TokenizerSource

    @Option(help: "Text to encode.")
    var text: String?

    @Option(help: "UTF-8 text file to encode.")
    var file: String?

    @Flag(help: "Encode each line of --file separately (the newline itself is not encoded).")
    var lines = false

    @Flag(help: "Leave out the special tokens the post-processor adds (e.g. BOS).")
    var noSpecial = false

    @Flag(help: "Also print the token strings.")
    var tokens = false

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
        if lines && file == nil { throw ValidationError("--lines needs --file") }
    }

    func run() throws {
        let tok = try source.load()
        let input = try text ?? readUTF8(file!)
        var pending: [String] = [input]
        if lines {
            // Split on the scalar "\n": as Characters, "\r\n" would not contain it.
            pending = input.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
                .map { String(String.UnicodeScalarView($0)) }
            if pending.last == "" { pending.removeLast() }  // after the file's final newline
        }
        for t in pending {
            let ids = tok.encode(t, addSpecialTokens: !noSpecial)
            if json {
                var fields = ["\"ids\": [" + ids.map(String.init).joined(separator: ", ") + "]"]
                if tokens { fields.append("\"tokens\": [" + tok.tokens(ids).map(jsonString).joined(separator: ", ") + "]") }
                print("{" + fields.joined(separator: ", ") + "}")
            } else {
                print(ids.map(String.init).joined(separator: ","))
                if tokens { print(tok.tokens(ids).map { visible($0) }.joined(separator: " ")) }
            }
        }
    }
}

struct Detokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Turn token ids back into text.")

    @OptionGroup var source: TokenizerSource

    @Option(help: "Token ids, comma-separated.")
    var ids: String

    @Flag(help: "Leave out special tokens.")
    var skipSpecial = false

    func run() throws {
        let tok = try source.load()
        let list = try parseIDs(ids, option: "--ids")
        for id in list where tok.token(of: id) == nil {
            throw WorkbenchError("--ids: \(id) is not a token of \(tok.source)")
        }
        print(tok.decode(list, skipSpecialTokens: skipSpecial))
    }
}
