import ArgumentParser
import CLICommon
import Formats
import Foundation
import Model
import Steering

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a run's steering vectors as .npy [L, d], .safetensors, or a llama.cpp control-vector GGUF.",
        discussion: """
        npy: float32 [L, d] (the published code's steering_vectors.npy). safetensors: one tensor \
        steering_vectors [L, d]. gguf: direction.l (F32 [d]) for each block l ≥ 1 with a non-zero vector, \
        added by llama.cpp to block l's output; a non-zero vector for block 0 cannot be expressed there and \
        is refused. bin: raw float32 [L·d]. Every format reads back with lens inspect and --adapter.
        """)

    @Argument(help: "Run directory of steer train.") var runDirectory: String
    @Option(help: "npy, safetensors, gguf or bin.") var format: String
    @Option(help: "Output file.") var out: String
    @Flag(help: "Export the best/ parameters instead of the last.") var best = false
    @Option(help: "Hugging Face model directory the run was trained on (default: the embedded model).") var model: String?

    func run() throws {
        guard let f = VectorWriter.Format(rawValue: format) else { throw WorkbenchError("--format: '\(format)' is not npy, safetensors, gguf or bin") }
        let directory = RunDirectory(runDirectory)
        let config = try directory.readConfig()
        guard config.method == .vectors else {
            throw WorkbenchError("exports steering vectors; this run trained method '\(config.method.rawValue)' (its weights are in model/)", file: runDirectory)
        }
        let dir = try DefaultModel.resolve(model)
        let m = try TransformerModel.load(directory: dir)
        guard config.modelHash == m.fingerprint else {
            throw WorkbenchError("this run was trained on another model (\(config.modelDirectory)); pass it with --model", file: directory.configPath)
        }
        let source = (best ? directory.file("best") : runDirectory) + "/vectors.bin"
        let rows = try VectorFile.load(source, config: m.config).rows
        try VectorWriter.write(rows, format: f, to: out, modelHint: m.config.architecture.rawValue)
        print("wrote \(out): \(rows.count) × \(rows.first?.count ?? 0) float32 (\(f.rawValue))")
    }
}
