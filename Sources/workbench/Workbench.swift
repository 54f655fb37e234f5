import ArgumentParser
import CLICommon
import Foundation
import Model
import Formats

@main
struct Workbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workbench",
        abstract: "Run Llama/Qwen2 checkpoints on the workbench's own runtime.",
        discussion: """
        MODEL is a Hugging Face checkpoint directory (config.json plus model.safetensors, or \
        model.safetensors.index.json with shards, stored as F32, F16 or BF16) or a GGUF file \
        (llama.cpp; docs/models.md lists the architectures, quantisations and tokenizers read).
        Results are written as HDF5; docs/formats.md lists every dataset.
        """,
        version: WorkbenchVersion.current,
        subcommands: [Demo.self, Info.self, Import.self, ReportCommand.self, Forward.self, Generate.self, Tokenize.self, Detokenize.self, TokenizerTrain.self, Corpus.self, Tasks.self, Pretrain.self, TokenizerBench.self, Bench.self])

    static func main() { runCommand(Workbench.self) }
}

