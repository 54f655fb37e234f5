import ArgumentParser
import Foundation
import Model

@main
struct Workbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workbench",
        abstract: "Run Llama/Qwen2 checkpoints on the workbench's own runtime.",
        discussion: """
        MODEL directories are Hugging Face checkpoints: config.json plus model.safetensors \
        (or model.safetensors.index.json with shards), stored as F32, F16 or BF16.
        Results are written as HDF5; docs/formats.md lists every dataset.
        """,
        version: WorkbenchVersion.current,
        subcommands: [Demo.self, Info.self, Forward.self, Generate.self, Tokenize.self, Detokenize.self, TokenizerTrain.self, Corpus.self, Pretrain.self, TokenizerBench.self, Bench.self])

    static func main() {
        BLASRuntime.ensureFastKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as WorkbenchError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}

/// Parses "1,2,3" (spaces allowed) into token ids.
func parseIDs(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(whereSeparator: { $0 == "," || $0 == " " })
    var ids: [Int] = []
    for p in parts {
        guard let v = Int(p), v >= 0 else {
            throw WorkbenchError("\(option): '\(p)' is not a non-negative integer token id")
        }
        ids.append(v)
    }
    guard !ids.isEmpty else { throw WorkbenchError("\(option): no token ids given") }
    return ids
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
