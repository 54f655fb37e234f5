import Foundation
import Model

/// A Hugging Face `tokenizer.json` pipeline: added tokens → normalizer →
/// pre-tokenizer → BPE → post-processor, and the decoder for the way back.
public final class Tokenizer: @unchecked Sendable {
    public let model: BPEModel
    public let normalizer: TextNormalizer?
    public let preTokenizer: PreTokenizer?
    public let postProcessor: PostProcessor?
    public let decoder: TokenDecoder?
    public let addedTokens: [AddedToken]
    /// Where it was loaded from, for messages.
    public let source: String
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedByID: [Int: AddedToken]
    private let addedByContent: [TokenKey: Int]

    public init(model: BPEModel, normalizer: TextNormalizer?, preTokenizer: PreTokenizer?,
                postProcessor: PostProcessor?, decoder: TokenDecoder?, addedTokens: [AddedToken], source: String) {
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedTokens = addedTokens
        self.source = source
        rawMatcher = AddedTokenMatcher(tokens: addedTokens.filter { !$0.normalized }) { $0.content }
        normalizedMatcher = AddedTokenMatcher(tokens: addedTokens.filter(\.normalized)) { t in
            normalizer?.normalize(t.content) ?? t.content
        }
        addedByID = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        addedByContent = Dictionary(addedTokens.map { (TokenKey($0.content), $0.id) }, uniquingKeysWith: { a, _ in a })
    }

    /// Loads a tokenizer.json file.
    public static func load(path: String) throws -> Tokenizer {
        return try TokenizerJSON.parse(try readFile(path), source: path)
    }

    /// A tokenizer.json document held in memory; `source` names it in messages.
    public static func load(json: Data, source: String) throws -> Tokenizer {
        try TokenizerJSON.parse(json, source: source)
    }

    /// The tokenizer.json inside a model directory.
    public static func load(modelDirectory: String) throws -> Tokenizer {
        try load(path: (modelDirectory as NSString).appendingPathComponent("tokenizer.json"))
    }

    /// Number of ids: the model's vocabulary and the added tokens.
    public var vocabularySize: Int {
        max(model.idToToken.count, (addedTokens.map(\.id).max() ?? -1) + 1)
    }

    public func id(of token: String) -> Int? {
        addedByContent[TokenKey(token)] ?? model.id(of: token)
    }

    public func token(of id: Int) -> String? {
        if let t = addedByID[id] { return t.content }
        guard id >= 0, id < model.idToToken.count, !model.idToToken[id].isEmpty || model.vocab[TokenKey("")] == id else { return nil }
        return model.idToToken[id]
    }

    public func isSpecial(_ id: Int) -> Bool { addedByID[id]?.special ?? false }

    /// Whether `id` is one of the added tokens (special or not).
    public func isAdded(_ id: Int) -> Bool { addedByID[id] != nil }

    /// Token ids of `text`, with the post-processor's special tokens when `addSpecialTokens`.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        forEachSegment(text) { segment in
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let piece): ids += model.tokenize(piece.scalars)
            }
        }
        if addSpecialTokens, let postProcessor { return postProcessor.process(ids) }
        return ids
    }

    /// Encodes many texts, split across the cores (no special tokens added).
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = false) -> [[Int]] {
        var out = [[Int]](repeating: [], count: texts.count)
        out.withUnsafeMutableBufferPointer { buffer in
            Parallel.forEachChunk(texts.count, costPerItem: 100_000) { range in
                for i in range { buffer[i] = encode(texts[i], addSpecialTokens: addSpecialTokens) }
            }
        }
        return out
    }

    /// The pieces BPE would see for `text` (added tokens left out): the trainer counts these.
    public func preTokenize(_ text: String) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        forEachSegment(text) { if case .text(let piece) = $0 { out.append(piece.scalars) } }
        return out
    }

    /// Added tokens split out of the raw text, normalization, added tokens split out
    /// of the normalized text, then pre-tokenization: each resulting segment in order.
    private func forEachSegment(_ text: String, _ body: (Segment) -> Void) {
        for segment in rawMatcher.split(TextPiece(Array(text.unicodeScalars), atTextStart: true)) {
            guard case .text(let piece) = segment else { body(segment); continue }
            var p = piece
            if let normalizer { p.scalars = Array(normalizer.normalize(piece.string).unicodeScalars) }
            // Empty text (e.g. all whitespace under Strip) yields nothing, not even a prefix space.
            for inner in normalizedMatcher.split(p) {
                guard case .text(let textPiece) = inner else { body(inner); continue }
                for w in preTokenizer?.apply([textPiece]) ?? [textPiece] { body(.text(w)) }
            }
        }
    }

    /// A token's text as it reads in a table: a space as ␣, a newline as ↵, a tab as ⇥.
    public static func visible(_ text: String) -> String {
        text.replacingOccurrences(of: " ", with: "␣").replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "\t", with: "⇥")
    }

    /// The token strings of `ids` ("" for unknown ids).
    public func tokens(_ ids: [Int]) -> [String] { ids.map { token(of: $0) ?? "" } }

    /// Text for `ids`, through the decoder (tokens joined by spaces when there is none).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let strings = ids.compactMap { id -> String? in
            if skipSpecialTokens && isSpecial(id) { return nil }
            return token(of: id)
        }
        guard let decoder else { return strings.joined(separator: " ") }
        return decoder.decodeChain(strings).joined()
    }
}
