import Foundation

/// Token ids for a batch of sequences, [batchSize, length] row-major, with a
/// mask marking real tokens (false = padding). Batched generation pads on the
/// left so every sequence's last token sits in the last column.
public struct TokenBatch: Sendable {
    public let batchSize: Int
    public let length: Int
    public var tokens: [Int]
    public var isReal: [Bool]
    /// Prompt length of each sequence in real tokens, when the batch holds prompt +
    /// completion (training); nil: every real token is prompt (`RowLayout.promptLengths`).
    public var promptLengths: [Int]?
    /// Per token, for sequences packed with `sharedPrefix`: 0 for a shared prefix (and its
    /// padding), k ≥ 1 for its k-th branch. nil: plain causal sequences.
    public private(set) var segments: [Int]?

    public init(batchSize: Int, length: Int, tokens: [Int], isReal: [Bool]? = nil, promptLengths: [Int]? = nil) {
        precondition(tokens.count == batchSize * length, "token count \(tokens.count) ≠ \(batchSize) × \(length)")
        self.batchSize = batchSize
        self.length = length
        self.tokens = tokens
        self.isReal = isReal ?? [Bool](repeating: true, count: tokens.count)
        self.promptLengths = promptLengths
        precondition(self.isReal.count == tokens.count)
        precondition(promptLengths.map { $0.count == batchSize } ?? true, "one prompt length per sequence")
    }

    /// One unpadded sequence.
    public init(_ sequence: [Int]) {
        self.init(batchSize: 1, length: sequence.count, tokens: sequence)
    }

    /// Sequences of different lengths, padded on the left with `padId`.
    public static func leftPadded(_ sequences: [[Int]], padId: Int = 0) -> TokenBatch {
        let length = sequences.map(\.count).max() ?? 0
        var tokens: [Int] = []
        var real: [Bool] = []
        for s in sequences {
            let pad = length - s.count
            tokens += [Int](repeating: padId, count: pad) + s
            real += [Bool](repeating: false, count: pad) + [Bool](repeating: true, count: s.count)
        }
        return TokenBatch(batchSize: sequences.count, length: length, tokens: tokens, isReal: real)
    }

    /// Groups of sequences that share a prefix, each packed into one left-padded row:
    /// [padding][prefix][branch 1][branch 2]…, where branch k's tokens attend to the prefix
    /// and to branch k's earlier tokens only, and take the positions that follow the prefix.
    /// Every branch then computes what the sequence prefix + branch would on its own, while
    /// the prefix is computed once (RL groups: one prompt, several completions). The prefix
    /// is each row's prompt (`promptLengths`).
    public static func sharedPrefix(_ groups: [(prefix: [Int], branches: [[Int]])], padId: Int = 0) -> TokenBatch {
        let packed = groups.map { $0.prefix + $0.branches.joined() }
        var batch = leftPadded(packed, padId: padId)
        var segments: [Int] = []
        for group in groups {
            let used = group.prefix.count + group.branches.reduce(0) { $0 + $1.count }
            segments += [Int](repeating: 0, count: batch.length - used + group.prefix.count)
            for (k, branch) in group.branches.enumerated() { segments += [Int](repeating: k + 1, count: branch.count) }
        }
        batch.promptLengths = groups.map(\.prefix.count)
        batch.segments = segments
        return batch
    }

    /// RoPE positions of a `sharedPrefix` batch: the prefix counts its real tokens from 0, and
    /// every branch continues from the end of its prefix.
    func sharedPrefixPositions() -> [Int] {
        guard let segments else { preconditionFailure("not a shared-prefix batch") }
        var positions = [Int](repeating: 0, count: tokens.count)
        for b in 0..<batchSize {
            var prefix = 0, branch = 0, current = 0
            for t in 0..<length {
                let r = b * length + t
                if segments[r] == 0 {
                    positions[r] = prefix
                    if isReal[r] { prefix += 1 }
                } else {
                    if segments[r] != current { current = segments[r]; branch = 0 }
                    positions[r] = prefix + branch
                    branch += 1
                }
            }
        }
        return positions
    }

    /// The real tokens of sequence b.
    public func sequence(_ b: Int) -> [Int] {
        (0..<length).compactMap { t in isReal[b * length + t] ? tokens[b * length + t] : nil }
    }
}
