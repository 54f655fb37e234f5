import ArgumentParser
import Foundation
import Model

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and sampling speed and peak memory on a model.",
        discussion: """
        Prefill: one sequence of --prefill random tokens, producing the next-token logits \
        (best of --repeats). Sampling: --batch prompts of --prompt random tokens, --new tokens \
        each at temperature 1 with the KV cache; tokens/s counts new tokens over the whole \
        generate call, prompt prefill included. scripts/bench_runtime.py compares these with PyTorch.
        """)

    @Option(help: "Hugging Face model directory.")
    var model: String

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

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let m = try TransformerModel.load(directory: model)
        var rng = SeededGenerator(seed: 1234)
        let V = m.config.vocabSize
        func randomTokens(_ n: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % UInt64(V)) } }

        let prefillTokens = randomTokens(prefill)
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = Date()
            _ = try m.forward(TokenBatch(prefillTokens), logits: .last)
            best = min(best, Date().timeIntervalSince(t0))
        }
        let prompts = (0..<batch).map { _ in randomTokens(prompt) }
        let t0 = Date()
        let gen = try m.generate(prompts: prompts, options: GenerationOptions(
            maxNewTokens: new, sampling: SamplingOptions(temperature: 1), seed: 7))
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
