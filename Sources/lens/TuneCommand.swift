import ArgumentParser
import CLICommon
import Formats
import Foundation
import Lens
import Model
import Corpus
import Tokenizers

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a tuned lens: one affine translator per layer, minimising KL(final ‖ translated layer).",
        discussion: """
        Documents (.jsonl with a "text" field, or .txt) are tokenized with the model's tokenizer, \
        joined with the end-of-text token and cut into windows of --length tokens. Every tenth \
        document (by default) is held out; at the end the mean KL per layer of the logit lens and of \
        the tuned lens on the held-out windows is printed and stored in the output file. The file \
        records a hash of the model's unembedding and is refused for any other model.
        """)

    @Option(help: "Corpus: a directory of .jsonl/.txt files or one file.") var docs: String
    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).") var model: String?
    @Option(help: "Output HDF5 file for the translators.") var out: String
    @Option(help: "Optimiser steps.") var steps: Int = 200
    @Option(help: "Windows per step.") var batchSize: Int = 8
    @Option(help: "Tokens per window.") var length: Int = 128
    @Option(help: "Peak learning rate (AdamW, warm-up then cosine).") var lr: Float = 1e-3
    @Option(help: "Hold out one document in this many.") var holdOutEvery: Int = 10
    @Option(help: "Held-out windows used for the report.") var heldOutWindows: Int = 16
    @Option(help: "Seed for the window order.") var seed: UInt64 = 0
    @Option(help: "Steps between checkpoints to OUT.partial.safetensors (0: none); a rerun of the same command resumes from it.")
    var checkpointEvery: Int = 50

    func run() throws {
        guard steps >= 1, batchSize >= 1, length >= 2, holdOutEvery >= 2 else {
            throw WorkbenchError("--steps, --batch-size must be ≥ 1, --length ≥ 2, --hold-out-every ≥ 2")
        }
        let (source, m) = try openModel(model)
        try checkWritable(out)
        let tokenizer = try source.loadTokenizer()
        let texts = try DocumentStream(path: docs).all().map(\.text)
        let separator = m.config.eosTokenIds.first
        var train: [Int] = [], heldOut: [Int] = []
        for (i, ids) in tokenizer.encodeBatch(texts).enumerated() {
            let piece = ids + (separator.map { [$0] } ?? [])
            if i % holdOutEvery == holdOutEvery - 1 { heldOut += piece } else { train += piece }
        }
        let data = try WindowedTokens(stream: train, length: length)
        let heldOutData = try WindowedTokens(stream: heldOut, length: length)
        printError("tuned lens: \(texts.count) documents, \(train.count) training tokens (\(data.windowCount) windows), "
                   + "\(heldOut.count) held-out tokens; \(steps) steps × \(batchSize) × \(length)")
        var options = TunedLensTrainingOptions()
        options.steps = steps; options.batchSize = batchSize; options.learningRate = lr; options.seed = seed
        options.warmup = min(options.warmup, steps / 5)
        // Resumable: OUT.partial.safetensors every --checkpoint-every steps, keyed by the data and options.
        try OutputLock.acquire(out + ".lock", for: out)
        options.checkpoint = out + ".partial.safetensors"
        options.checkpointEvery = checkpointEvery
        var key = ContentHash()
        for tokens in [train, heldOut] { tokens.withUnsafeBytes { key.update($0) } }
        key.update(Data("\(m.fingerprint) \(steps) \(batchSize) \(length) \(lr) \(seed) \(holdOutEvery)".utf8))
        options.runKey = key.hex
        if FileManager.default.fileExists(atPath: options.checkpoint!) { printError("resuming from \(options.checkpoint!)") }
        let start = Date()
        let (lens, losses) = try TunedLensTrainer.train(model: m, data: data, options: options) { step, loss in
            if step % 10 == 0 || step == steps {
                printError(String(format: "step %d/%d  mean KL %.4f nats  %.0f s", step, steps, loss, Date().timeIntervalSince(start)))
            }
        }
        let windows = (0..<min(heldOutWindows, heldOutData.windowCount)).map { Array(heldOutData.window($0)) }
        let (logit, tuned) = try TunedLensTrainer.heldOutKL(model: m, lens: lens, windows: windows)
        let report = TunedLens.Report(logitLensKL: logit, tunedLensKL: tuned, trainingLoss: losses,
                                      heldOutTokens: windows.count * length)
        try lens.write(to: out, model: m, report: report)
        try? FileManager.default.removeItem(atPath: options.checkpoint!)
        print("held-out KL(final ‖ layer), nats per token, over \(windows.count * length) tokens:")
        print("site            logit lens  tuned lens")
        for r in 0..<logit.count {
            let name = r == 0 ? "embed" : r == logit.count - 1 ? "\(r - 1).post final" : "\(r - 1).post"
            print(name.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%10.4f  %10.4f", logit[r], tuned[r]))
        }
        print("wrote \(out)")
    }
}
