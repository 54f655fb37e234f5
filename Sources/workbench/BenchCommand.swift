import ArgumentParser
import CLICommon
import Foundation
import Model
import Steering

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and sampling speed and peak memory on a model.",
        discussion: """
        Prefill: one sequence of --prefill random tokens, producing the next-token logits \
        (best of --repeats). Sampling: --batch prompts of --prompt random tokens, --new tokens \
        each at temperature 1 with the KV cache; tokens/s counts new tokens over the whole \
        generate call, prompt prefill included. scripts/bench_runtime.py compares these with PyTorch.
        """)

    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).")
    var model: String?

    @Option(help: "Prefill length.")
    var prefill: Int = 512

    @Option(help: "Sampling batch size.")
    var batch: Int = 8

    @Option(help: "Prompt length for sampling.")
    var prompt: Int = 16

    @Option(help: "New tokens per sequence.")
    var new: Int = 32

    @Option(help: "Prefill repetitions (the best is reported).")
    var repeats: Int = 3

    @Option(help: "Apply an adapter during prefill and sampling (a steer run directory, PEFT directory or vector file), to measure its cost.")
    var adapter: String?
    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Measure training instead: forward + backward + AdamW on --train-batch × --train-length tokens.")
    var train = false

    @Flag(help: "Measure the model's linear products instead, at 8 to 256 rows, through the few-row kernel and through sgemm (GFLOP/s).")
    var products = false

    @Option(help: "Training sequences per step.") var trainBatch: Int = 4
    @Option(help: "Training tokens per sequence.") var trainLength: Int = 128
    @Option(help: "Timed training steps (after one warm-up step).") var trainSteps: Int = 3

    func run() throws {
        let sizes = [("--prefill", prefill), ("--batch", batch), ("--prompt", prompt), ("--new", new), ("--repeats", repeats),
                     ("--train-batch", trainBatch), ("--train-length", trainLength), ("--train-steps", trainSteps)]
        for (name, value) in sizes where value < 1 {
            throw WorkbenchError("\(name) must be at least 1, got \(value)")
        }
        if train {
            guard adapter == nil else { throw WorkbenchError("--adapter measures inference; --train measures full training") }
            return try runTraining()
        }
        if products {
            guard adapter == nil else { throw WorkbenchError("--adapter measures inference; --products measures the bare products") }
            return try runProducts()
        }
        let loaded = try openModel(model).model
        let applied = try adapter.map { try AppliedAdapter.load($0, model: loaded) }
        let m = applied?.model ?? loaded, hooks = applied?.hooks ?? ForwardHooks()
        var rng = SeededGenerator(seed: 1234)
        let V = m.config.vocabSize
        func randomTokens(_ n: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % UInt64(V)) } }

        let prefillTokens = randomTokens(prefill)
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = Date()
            _ = try m.forward(TokenBatch(prefillTokens), hooks: hooks, logits: .last)
            best = min(best, Date().timeIntervalSince(t0))
        }
        let prompts = (0..<batch).map { _ in randomTokens(prompt) }
        let t0 = Date()
        let gen = try m.generate(prompts: prompts, options: GenerationOptions(
            maxNewTokens: new, sampling: SamplingOptions(temperature: 1), seed: 7), hooks: hooks)
        let sampleSeconds = Date().timeIntervalSince(t0)
        let produced = gen.tokens.map(\.count).reduce(0, +)

        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        let prefillRate = Double(prefill) / best
        let sampleRate = Double(produced) / sampleSeconds
        if json {
            print(String(format: "{\"prefill_tokens_per_s\": %.2f, \"sample_tokens_per_s\": %.2f, \"peak_rss_mib\": %.1f, \"blas_core\": \"%@\"}",
                         prefillRate, sampleRate, peakMiB, BLASRuntime.coreName))
        } else {
            printTable([
                ("BLAS kernel", BLASRuntime.coreName),
                ("prefill 1×\(prefill)", String(format: "%.1f tokens/s (%.3f s)", prefillRate, best)),
                ("sampling \(batch)×\(new)", String(format: "%.1f tokens/s (%.3f s)", sampleRate, sampleSeconds)),
                ("peak RSS", String(format: "%.0f MiB", peakMiB)),
            ])
        }
    }
}

extension Bench {
    /// Training throughput: full-model AdamW steps on random tokens (weights copied
    /// into owned memory first, as fine-tuning a loaded checkpoint does).
    func runTraining() throws {
        // The loaded model (and with it the memory-mapped file) is released once its
        // weights are copied, so the mapping's pages do not count towards peak memory.
        let m: TransformerModel = try {
            let loaded = try openModel(model).model
            return TransformerModel(config: loaded.config, weights: loaded.weights.ownedCopy())
        }()
        var rng = SeededGenerator(seed: 99)
        let perStep = trainBatch * trainLength
        let stream = (0..<(perStep * (trainSteps + 1))).map { _ in Int(rng.next() % UInt64(m.config.vocabSize)) }
        let options = TrainingOptions(steps: trainSteps + 1, batchSize: trainBatch, sequenceLength: trainLength,
                                      learningRate: 1e-5, warmupSteps: 1, checkpointEvery: 0)
        let trainer = LanguageModelTrainer(model: m, data: try WindowedTokens(stream: stream, length: trainLength), options: options)
        _ = try trainer.step()   // warm-up: allocates the optimizer state
        var times: [Double] = []
        for _ in 0..<trainSteps {
            let t0 = Date()
            _ = try trainer.step()
            times.append(Date().timeIntervalSince(t0))
        }
        let median = times.sorted()[times.count / 2]
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        let rate = Double(perStep) / median
        if json {
            print(String(format: "{\"train_tokens_per_s\": %.2f, \"train_step_s\": %.3f, \"peak_rss_mib\": %.1f, \"blas_core\": \"%@\"}",
                         rate, median, peakMiB, BLASRuntime.coreName))
        } else {
            printTable([("BLAS kernel", BLASRuntime.coreName),
                        ("training \(trainBatch)×\(trainLength)", String(format: "%.1f tokens/s (%.2f s per step, median of %d)", rate, median, trainSteps)),
                        ("peak RSS", String(format: "%.0f MiB", peakMiB))])
        }
    }
}
