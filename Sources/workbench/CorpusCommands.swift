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


struct Tasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write short-answer RL task families (train and held-out test problems) for real models.",
        discussion: """
        DIR/FAMILY/train.jsonl and DIR/FAMILY/test.jsonl, lines {"id", "prompt", "completion", \
        "answer", "task"}: the completion is a short worked answer ending in \\boxed{answer} (for \
        steer train --objective sft). Train and test share no question. The same seed always gives \
        the same files. Families: \(TaskFamily.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")).
        """)

    @Option(help: "Output directory.") var out: String
    @Option(help: "Comma-separated families, or all.") var families: String = "all"
    @Option(help: "Training problems per family (fewer where a family has fewer distinct questions left).") var train: Int = 1000
    @Option(help: "Held-out test problems per family.") var test: Int = 300
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        for family in try TaskFamily.parseList(families) {
            let problems = try TaskProblems(family: family, train: train, test: test, seed: seed)
            try problems.write(to: out)
            print("wrote \((out as NSString).appendingPathComponent(family.rawValue)): "
                  + "\(problems.train.count) train, \(problems.test.count) test (\(family.summary))")
        }
    }
}
