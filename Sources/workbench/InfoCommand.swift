import ArgumentParser
import CLICommon
import Foundation
import Model
import Formats

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model directory and the BLAS kernels in use.",
        discussion: "Without MODEL_DIR the embedded model is described; --runtime-only shows just the BLAS kernel, threads and sgemm speed.")

    @Argument(help: "A Hugging Face model directory or GGUF file (default: the embedded model).")
    var modelDir: String?

    @Flag(help: "Show only the runtime (no model).")
    var runtimeOnly = false

    @Flag(help: "Skip the sgemm speed measurement.")
    var noMeasure = false

    func run() throws {
        if !runtimeOnly {
            let (source, model) = try openModel(self.modelDir)
            let c = model.config
            var rope = "theta \(c.ropeTheta)"
            if case let .llama3(f, lo, hi, orig) = c.ropeScaling {
                rope += ", llama3 scaling (factor \(f), low \(lo), high \(hi), original \(orig))"
            }
            let rows: [(String, String)] = [
                ("model", source.path),
                ("architecture", c.architecture.rawValue),
                ("parameters", formatCount(model.parameterCount)),
                ("dtype on disk", model.storedDTypes.joined(separator: ", ")),
                ("layers", "\(c.layerCount)"),
                ("hidden size", "\(c.hiddenSize)"),
                ("intermediate size", "\(c.intermediateSize)"),
                ("attention heads", "\(c.headCount) (key/value heads \(c.kvHeadCount), head dim \(c.headDim))"),
                ("vocabulary", "\(c.vocabSize)"),
                ("embeddings", model.isTied ? "tied (lm_head = embed_tokens)" : "separate lm_head"),
                ("biases", [c.qkvBias ? "q/k/v" : nil, c.outputBias ? "o" : nil, c.mlpBias ? "mlp" : nil]
                    .compactMap { $0 }.joined(separator: ", ").nilIfEmpty ?? "none"),
                ("rms norm eps", "\(c.rmsNormEps)"),
                ("rope", rope),
                ("fingerprint", model.fingerprint),
            ]
            printTable(rows)
            print("")
        }
        var runtime: [(String, String)] = [
            ("BLAS kernel", BLASRuntime.coreName
                + (BLASRuntime.replacedCore.map { " (OpenBLAS chose \($0); switched at start-up)" } ?? "")),
            ("BLAS build", BLASRuntime.configuration),
            ("threads", "\(Parallel.workerCount) (the workbench splits products itself; one BLAS thread per call)"),
        ]
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], BLASRuntime.replacedCore == nil {
            runtime.append(("OPENBLAS_CORETYPE", "\(forced) (set by the user)"))
        }
        if !noMeasure {
            runtime.append(("sgemm (1024³)", String(format: "%.1f GFLOP/s on %d threads", BLASRuntime.measureSgemmGFLOPS(), Parallel.workerCount)))
        }
        printTable(runtime)
    }
}

