import ArgumentParser
import CLICommon
import Foundation
import Model
import Corpus

struct Corpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the synthetic pretraining corpus, its queries and the RL problem set.",
        discussion: """
        DIR/corpus/shard-NNN.jsonl ({"id", "text", "source"} per line; sources wiki, trivia, math, code, \
        stackexchange, narrative), DIR/queries/factual.jsonl and reasoning.jsonl ({"id", "prompt", \
        "completion", "answer", "task", "mentions"}), DIR/rl/train.jsonl and test.jsonl. The same seed \
        always gives the same files.
        """)

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
        let corpus = SyntheticCorpus(seed: seed)
        try corpus.write(to: out)
        var bySource: [String: Int] = [:]
        for d in corpus.documents { bySource[d.source, default: 0] += 1 }
        let bytes = corpus.documents.reduce(0) { $0 + $1.text.utf8.count }
        print("wrote \(out): \(corpus.documents.count) documents (\(bytes / 1024) KiB; "
              + bySource.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")")
        print("  \(corpus.factualQueries.count) factual queries, \(corpus.reasoningQueries.count) reasoning queries, "
              + "\(corpus.rlTrain.count)/\(corpus.rlTest.count) RL problems (train/test)")
    }
}

