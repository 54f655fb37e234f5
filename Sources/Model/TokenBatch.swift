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

    /// The real tokens of sequence b.
    public func sequence(_ b: Int) -> [Int] {
        (0..<length).compactMap { t in isReal[b * length + t] ? tokens[b * length + t] : nil }
    }
}
