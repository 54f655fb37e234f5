import ArgumentParser
import CLICommon
import Formats
import Foundation
import Model

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a GGUF model file into a Hugging Face checkpoint directory.",
        discussion: """
        Writes config.json, model.safetensors (every tensor dequantised; Q and K rows of the llama \
        architecture back in Hugging Face's order), tokenizer.json (the file's own tokenizer, \
        docs/models.md), tokenizer_config.json with the chat template, and generation_config.json: \
        a directory that transformers' from_pretrained and every workbench command load as it is. \
        The directory is written under a temporary name and renamed when complete, so a failed or \
        killed import leaves nothing at --out.
        """)

    @Argument(help: "The GGUF file (architectures llama and qwen2).") var file: String
    @Option(help: "The directory to write (must not exist).") var out: String
    @Option(help: "Storage type of model.safetensors: f32 (exact) or bf16 (half the size, rounded).") var dtype: String = "f32"

    func run() throws {
        guard let storage = SafeTensorsWriter.StorageType(rawValue: dtype.uppercased()) else {
            throw WorkbenchError("--dtype: '\(dtype)' is not f32 or bf16")
        }
        guard file.lowercased().hasSuffix(".gguf") else { throw WorkbenchError("not a .gguf file", file: file) }
        guard !FileManager.default.fileExists(atPath: out) else {
            throw WorkbenchError("already exists; choose another --out or remove it", file: out)
        }
        let (source, model) = try openModel(file)
        let temporary = temporaryName(for: out)
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try model.save(to: temporary, storage: storage)
            try source.writeTokenizerFiles(to: temporary)
            try FileManager.default.moveItem(atPath: temporary, toPath: out)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        let c = model.config
        print("wrote \(out): \(c.architecture.rawValue), \(c.layerCount) blocks, d \(c.hiddenSize), \(formatCount(model.parameterCount)) parameters (\(storage.rawValue); from \(model.storedDTypes.joined(separator: ", "))), tokenizer with \(c.vocabSize) ids")
    }
}
