import ArgumentParser
import CLICommon
import Foundation
import Model
import Corpus
import Formats
import Tokenizers

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small Llama-architecture model from scratch on a corpus.",
        discussion: """
        Trains a byte-level BPE tokenizer (qwen2 style: single digits) unless OUT/tokenizer.json \
        exists, tokenizes the corpus (each document followed by <|endoftext|>), trains with AdamW on \
        windows of --sequence-length tokens cut from the documents packed in a new seeded order \
        every epoch, and \
        saves a resumable checkpoint every --checkpoint-every steps: run the same command again to \
        continue an interrupted run. Writes OUT/model (a Hugging Face directory, bf16), \
        OUT/training.h5 (loss curve) and, when the corpus has queries/, OUT/evaluation.json.
        """)

    @Option(help: "Corpus directory written by `workbench corpus` (or any directory of .jsonl/.txt).")
    var corpus: String

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "Tokenizer vocabulary size.") var vocabSize: Int = 1024
    @Option(help: "Hidden size.") var hidden: Int = 192
    @Option(help: "Blocks.") var layers: Int = 4
    @Option(help: "Attention heads.") var heads: Int = 6
    @Option(help: "Key/value heads (GQA).") var kvHeads: Int = 2
    @Option(help: "MLP width.") var intermediate: Int = 512
    @Option(help: "Optimisation steps.") var steps: Int = 2000
    @Option(help: "Sequences per step.") var batch: Int = 16
    @Option(help: "Tokens per sequence.") var sequenceLength: Int = 128
    @Option(help: "Peak learning rate.") var lr: Float = 3e-3
    @Option(help: "Warm-up steps.") var warmup: Int = 100
    @Option(help: "Random seed (weights and data order).") var seed: UInt64 = 0
    @Option(help: "Checkpoint every this many steps.") var checkpointEvery: Int = 100
    @Option(name: .customLong("repeat"), parsing: .singleValue,
            help: ArgumentHelp("Put the documents of a source N times in the training stream (a mixture weight), e.g. --repeat wiki=6 --repeat trivia=6.",
                               valueName: "source=N"))
    var repeats: [String] = []

    func repeatCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for item in repeats {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let n = Int(parts[1]) else {
                throw WorkbenchError("--repeat expects source=N, got '\(item)'")
            }
            counts[parts[0]] = n
        }
        return counts
    }

    func run() throws {
        let fm = FileManager.default
        let tokenizerPath = (out as NSString).appendingPathComponent("tokenizer.json")
        let corpusDir = fm.fileExists(atPath: (corpus as NSString).appendingPathComponent("corpus")) ? (corpus as NSString).appendingPathComponent("corpus") : corpus
        let labeled = try DocumentStream(path: corpusDir).all()
        try OutputLock.acquire(directory: out)
        let docs = labeled.map(\.text)
        let counts = try repeatCounts()
        let order: [Int]
        do { order = try documentOrder(sources: labeled.map(\.source), repeats: counts, seed: seed) } catch let e as WorkbenchError {
            throw WorkbenchError("--repeat: \(e.message)", file: corpusDir)
        }
        printError("corpus: \(docs.count) documents" + (repeats.isEmpty ? "" : "; \(order.count) in the training stream (\(repeats.joined(separator: ", ")))"))
        if !fm.fileExists(atPath: tokenizerPath) {
            let trained = try BPETrainer(style: .qwen2, vocabularySize: vocabSize).train(documents: docs)
            try writeFileAtomically(try TokenizerStyle.qwen2.fileData(vocab: trained.vocab, merges: trained.merges), to: tokenizerPath)
            printError("tokenizer: \(trained.vocab.count) tokens → \(tokenizerPath)")
        }
        let tokenizer = try Tokenizer.load(path: tokenizerPath)
        guard let eos = tokenizer.id(of: TokenizerStyle.qwen2.eosToken) else { throw WorkbenchError("no <|endoftext|> token", file: tokenizerPath) }
        let encoded = tokenizer.encodeBatch(docs)
        let data = try WindowedTokens(documents: order.map { encoded[$0] + [eos] }, length: sequenceLength)
        printError("tokens: \(data.tokenCount)")

        let config = ModelConfig(architecture: .llama, hiddenSize: hidden, intermediateSize: intermediate, layerCount: layers,
                                 headCount: heads, kvHeadCount: kvHeads, vocabSize: tokenizer.vocabularySize, rmsNormEps: 1e-5,
                                 ropeTheta: 10000, tieWordEmbeddings: true, maxPositionEmbeddings: 1024,
                                 eosTokenIds: [eos])
        let model = TransformerModel(config: config, weights: .random(config: config, seed: seed))
        let options = TrainingOptions(steps: steps, batchSize: batch, sequenceLength: sequenceLength, learningRate: lr,
                                      warmupSteps: warmup, seed: seed, checkpointEvery: checkpointEvery)
        let trainer = LanguageModelTrainer(model: model, data: data, options: options)
        let checkpoint = (out as NSString).appendingPathComponent("checkpoint")
        if fm.fileExists(atPath: checkpoint + "/checkpoint.safetensors") {
            let step = try trainer.restoreCheckpoint(from: checkpoint)
            printError("resumed from step \(step)")
        }
        printError("model: \(formatCount(model.parameterCount)) parameters; \(steps) steps of \(batch)×\(sequenceLength) tokens")
        let start = Date()
        var tokensThisRun = 0
        while trainer.completedSteps < steps {
            let r = try trainer.step()
            tokensThisRun += r.tokens
            if r.step % 10 == 0 || r.step == steps {
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(tokensThisRun) / elapsed
                let eta = Double(steps - r.step) * Double(r.tokens) / rate
                printError(String(format: "step %d/%d  loss %.4f  lr %.2e  |g| %.2f  %.0f tokens/s  eta %.0f s",
                                  r.step, steps, r.loss, r.learningRate, r.gradientNorm, rate, eta))
            }
            if checkpointEvery > 0 && (r.step % checkpointEvery == 0 || r.step == steps) {
                try trainer.saveCheckpoint(to: checkpoint)
            }
        }
        let modelDir = (out as NSString).appendingPathComponent("model")
        try model.save(to: modelDir, storage: .bf16, tokenizerFile: tokenizerPath)
        let h5 = try HDF5Writer(path: (out as NSString).appendingPathComponent("training.h5"))
        try Provenance(model: model).write(to: h5)
        let history = trainer.history
        try h5.writeFloats("loss", shape: [history.count], history.map { Float($0.loss) })
        try h5.writeFloats("learning_rate", shape: [history.count], history.map(\.learningRate))
        try h5.writeFloats("gradient_norm", shape: [history.count], history.map { Float($0.gradientNorm) })
        try h5.setAttribute("tokens_per_step", .int(batch * sequenceLength))
        if !repeats.isEmpty { try h5.setAttribute("repeat", .string(repeats.joined(separator: ","))) }
        try h5.commit()
        print("wrote \(modelDir) (bf16) and \((out as NSString).appendingPathComponent("training.h5")); final loss \(history.last.map { String(format: "%.4f", $0.loss) } ?? "-")")

        let queries = (corpus as NSString).appendingPathComponent("queries")
        let wordProblemsPath = (corpus as NSString).appendingPathComponent("rl/test.jsonl")
        if fm.fileExists(atPath: queries) {
            let saved = try TransformerModel.load(directory: modelDir)
            let eval = try PretrainEvaluation.run(model: saved, tokenizer: tokenizer,
                                                  factual: try readJSONLines(Query.self, queries + "/factual.jsonl"),
                                                  reasoning: try readJSONLines(Query.self, queries + "/reasoning.jsonl"),
                                                  wordProblems: fm.fileExists(atPath: wordProblemsPath)
                                                      ? try readJSONLines(Query.self, wordProblemsPath) : [],
                                                  progress: { printError($0) })
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeFileAtomically(try enc.encode(eval), to: (out as NSString).appendingPathComponent("evaluation.json"))
            for (k, s) in eval.recallByMentions.sorted(by: { $0.key < $1.key }) {
                print(String(format: "recall, facts stated %d×: %d/%d (%.1f%%)", k, s.correct, s.total, 100 * s.accuracy))
            }
            let r3 = eval.recallMentionedAtLeast3
            print(String(format: "recall, facts stated ≥ 3×: %.1f%%", 100 * r3.accuracy))
            for (task, s) in eval.recallMentionedAtLeast3ByTask.sorted(by: { $0.key < $1.key }) {
                print(String(format: "  %@: %d/%d (%.1f%%)", task, s.correct, s.total, 100 * s.accuracy))
            }
            for (task, s) in eval.reasoning.sorted(by: { $0.key < $1.key }) {
                print(String(format: "%@ (greedy, step by step): %d/%d (%.1f%%)", task, s.correct, s.total, 100 * s.accuracy))
            }
            if let w = eval.wordProblems {
                print(String(format: "word problems, rl/test.jsonl (greedy, \\boxed{N}): %d/%d (%.1f%%)", w.correct, w.total, 100 * w.accuracy))
            }
        }
    }
}
