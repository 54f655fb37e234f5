import ArgumentParser
import CLICommon
import Formats
import Foundation
import Model
import Steering

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a run: steering vectors as .npy, .safetensors, GGUF or .bin; adapters as a PEFT directory; any adapter merged into a Hugging Face model.",
        discussion: """
        Steering vectors (--method vectors): npy: float32 [L, d] (the published code's \
        steering_vectors.npy). safetensors: one tensor steering_vectors [L, d]. gguf: direction.l \
        (F32 [d]) for each block l ≥ 1 with a non-zero vector, added by llama.cpp to block l's \
        output; a non-zero vector for block 0 cannot be expressed there and is refused. bin: raw \
        float32 [L·d]. Every format reads back with lens inspect and --adapter.

        Weight adapters (--method lora, loraxs, tinylora): peft writes a directory (--out) with \
        adapter_config.json and adapter_model.safetensors that PEFT loads onto the transformers \
        model (PeftModel.from_pretrained). LoRA stays LoRA; LoRA-XS becomes LoRA (A = R V_rᵀ, \
        B = U_r Σ_r, α = r); TinyLoRA becomes PEFT's TinyLoRA with the same A, B, P and v, tied \
        as here when PEFT's weight_tying can express the grouping, else one copy of its group's \
        v per module (the same function).

        merged (weight adapters): the base model with every ΔW added, written as a Hugging Face directory (--out: config.json, float32 \
        model.safetensors, tokenizer.json) that transformers and --model load.
        """)

    @Argument(help: "Run directory of steer train.") var runDirectory: String
    @Option(help: "npy, safetensors, gguf or bin (vectors); peft or merged (adapters).") var format: String
    @Option(help: "Output file (vectors) or directory (peft, merged).") var out: String
    @Flag(help: "Export the best/ parameters instead of the last.") var best = false
    @Option(help: "Hugging Face model directory or GGUF file the run was trained on (default: the one the run recorded).") var model: String?

    func run() throws {
        let directory = RunDirectory(runDirectory)
        let config = try directory.readConfig()
        let (modelSource, m) = try openModel(model ?? RunDirectory.recordedModel(for: runDirectory))
        let dir = modelSource.path
        guard config.modelHash == m.fingerprint else {
            throw WorkbenchError("this run was trained on another model (\(config.modelDirectory)); pass it with --model", file: directory.configPath)
        }
        let source = best ? directory.file("best") : runDirectory
        switch config.method {
        case .vectors:
            guard let f = VectorWriter.Format(rawValue: format) else {
                throw WorkbenchError("--format: '\(format)' is not npy, safetensors, gguf or bin (a steering-vector run)")
            }
            let rows = try VectorFile.load(source + "/vectors.bin", config: m.config).rows
            try VectorWriter.write(rows, format: f, to: out, modelHint: m.config.architecture.rawValue)
            print("wrote \(out): \(rows.count) × \(rows.first?.count ?? 0) float32 (\(f.rawValue))")
        case .full:
            throw WorkbenchError("a full fine-tuning run's weights are already a Hugging Face directory: \(source)/model", file: runDirectory)
        case .loreft, .noreft, .direft, .nodireft, .consreft, .lobireft:
            throw WorkbenchError("a ReFT run is applied as it is (--adapter \(runDirectory)); its tensors are in \(ReFTInterventions.runFileName), docs/formats.md", file: runDirectory)
        case .lora, .loraxs, .tinylora:
            let file = (source as NSString).appendingPathComponent(WeightAdapter.runFileName)
            let adapter = try WeightAdapter.load(file, model: m)
            switch format {
            case "peft":
                try adapter.exportPEFT(to: out, baseModel: absolutePath(dir))
                print("wrote \(out): adapter_config.json, adapter_model.safetensors (PEFT)")
            case "merged":
                try adapter.mergedModel(m).save(to: out, storage: .f32)
                try modelSource.writeTokenizerFiles(to: out)
                print("wrote \(out): config.json, model.safetensors (float32, \(adapter.modules.count) linears merged), tokenizer.json")
            default:
                throw WorkbenchError("--format: '\(format)' is not peft or merged (a \(config.method.rawValue) run)")
            }
        }
    }
}
