import ArgumentParser
import CLICommon
import Foundation
import Model
import Corpus
import Tokenizers

extension TokenizerStyle: ExpressibleByArgument {}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer-train",
        abstract: "Train a byte-level BPE tokenizer and write it as tokenizer.json.",
        discussion: """
        --style picks the pipeline: llama3 (Llama 3 split pattern, digits in groups of up to 3, \
        BOS added, ignore_merges), qwen2 (NFC, single digits, no BOS) or gpt2 (GPT-2's byte-level \
        pattern). The corpus is a directory of .jsonl files ({"text": ...} per line) or .txt files. \
        The result loads in Hugging Face `tokenizers` and encodes identically there \
        (scripts/check_tokenizer_roundtrip.py checks it).
        """)

    @Option(help: "Corpus directory (.jsonl / .txt files) or a single file.")
    var corpus: String

    @Option(help: "Vocabulary size, special tokens included.")
    var vocabSize: Int

    @Option(help: "Pipeline style: llama3, qwen2 or gpt2.")
    var style: TokenizerStyle = .llama3

    @Option(help: "Pairs seen fewer times are not merged.")
    var minFrequency: Int = 2

    @Option(help: "Output tokenizer.json.")
    var out: String

    func run() throws {
        let docs = try DocumentStream(path: corpus).all().map(\.text)
        let bytes = docs.reduce(0) { $0 + $1.utf8.count }
        printError("training \(style.rawValue) BPE to \(vocabSize) tokens on \(docs.count) documents (\(bytes / 1024) KiB)")
        let start = Date()
        var lastShown = -1
        let result = try BPETrainer(style: style, vocabularySize: vocabSize, minFrequency: minFrequency)
            .train(documents: docs) { done, wanted in
                let percent = wanted > 0 ? done * 100 / wanted : 100
                if wanted >= 500 && (percent / 10 != lastShown / 10 || done == wanted) {
                    lastShown = percent
                    printError("  merges \(done)/\(wanted) (\(percent)%)")
                }
            }
        let json = result.tokenizer.model.mergeList.count
        try writeFileAtomically(try style.fileData(vocab: result.vocab, merges: result.merges), to: out)
        let reached = result.vocab.count
        print("wrote \(out): \(reached) tokens (\(json) merges, \(style.specialTokens.count) special) from \(result.distinctWords) distinct words in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        if reached < vocabSize {
            print("note: the corpus ran out of pairs seen at least \(minFrequency) times before \(vocabSize) tokens")
        }
    }
}

struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer-bench",
        abstract: "Measure encoding throughput (MB/s) on a text file, single-threaded and on all cores.",
        discussion: "Lines are encoded one by one; the all-cores run splits the lines across workers. scripts/bench_tokenizer.py compares with Hugging Face tokenizers.")

    @OptionGroup var source: TokenizerSource

    @Option(help: "UTF-8 text file.")
    var file: String

    @Option(help: "Repetitions (the best is reported).")
    var repeats: Int = 3

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let text = try readUTF8(file)
        let lines = text.unicodeScalars.split(separator: "\n").map { String(String.UnicodeScalarView($0)) }
        let megabytes = Double(text.utf8.count) / 1e6
        func measure(parallel: Bool) throws -> (Double, Int) {
            var best = Double.infinity, count = 0
            for _ in 0..<max(1, repeats) {
                let tok = try source.load()   // a fresh word cache each time
                let t0 = Date()
                count = parallel ? tok.encodeBatch(lines).reduce(0) { $0 + $1.count }
                                 : lines.reduce(0) { $0 + tok.encode($1, addSpecialTokens: false).count }
                best = min(best, Date().timeIntervalSince(t0))
            }
            return (megabytes / best, count)
        }
        let (single, tokens) = try measure(parallel: false)
        let (all, _) = try measure(parallel: true)
        if json {
            print(String(format: "{\"single_thread_mb_per_s\": %.3f, \"all_cores_mb_per_s\": %.3f, \"tokens\": %d}", single, all, tokens))
        } else {
            printTable([("text", String(format: "%.2f MB, %d lines", megabytes, lines.count)), ("tokens", "\(tokens)"),
                        ("single thread", String(format: "%.2f MB/s", single)),
                        ("all cores (\(Parallel.workerCount))", String(format: "%.2f MB/s", all))])
        }
    }
}
