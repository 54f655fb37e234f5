import Foundation
import Model

/// The BPE `model` of a tokenizer.json: vocabulary, ranked merges, and the options
/// Hugging Face `tokenizers` supports (ignore_merges, byte_fallback, unk_token with
/// fuse_unk, continuing_subword_prefix, end_of_word_suffix).
public final class BPEModel: @unchecked Sendable {
    public let vocab: [TokenKey: Int]
    /// id → token string ("" for ids the vocabulary does not use).
    public let idToToken: [String]
    /// (left id, right id) packed as left << 32 | right → (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    public let unkToken: String?
    public let fuseUnk: Bool
    public let byteFallback: Bool
    public let ignoreMerges: Bool
    public let continuingSubwordPrefix: String?
    public let endOfWordSuffix: String?
    /// The merges in rank order, as stored (for writing the file back).
    public let mergeList: [(String, String)]

    private let cache = WordCache()

    /// `vocab` is a list of (token, id): tokens that are canonically equivalent but
    /// spelled differently are distinct entries.
    public init(vocab: [(String, Int)], merges: [(String, String)], unkToken: String? = nil, fuseUnk: Bool = false,
                byteFallback: Bool = false, ignoreMerges: Bool = false, continuingSubwordPrefix: String? = nil,
                endOfWordSuffix: String? = nil, source: String = "tokenizer.json") throws {
        var v: [TokenKey: Int] = [:]
        v.reserveCapacity(vocab.count)
        var maxID = -1
        for (token, id) in vocab {
            guard id >= 0 else { throw WorkbenchError("vocabulary id \(id) for '\(token)' is negative", file: source) }
            v[TokenKey(token)] = id
            maxID = max(maxID, id)
        }
        var reverse = [String](repeating: "", count: maxID + 1)
        for (token, id) in vocab { reverse[id] = token }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        let prefixLength = continuingSubwordPrefix?.unicodeScalars.count ?? 0
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = v[TokenKey(a)] else { throw WorkbenchError("merge \(rank) ('\(a)' '\(b)') names '\(a)', which is not in the vocabulary", file: source) }
            guard let ib = v[TokenKey(b)] else { throw WorkbenchError("merge \(rank) ('\(a)' '\(b)') names '\(b)', which is not in the vocabulary", file: source) }
            var right = b
            if prefixLength > 0, let prefix = continuingSubwordPrefix, b.hasPrefix(prefix) {
                right = String(String.UnicodeScalarView(b.unicodeScalars.dropFirst(prefixLength)))
            }
            let merged = a + right
            guard let im = v[TokenKey(merged)] else {
                throw WorkbenchError("merge \(rank) ('\(a)' '\(b)') produces '\(merged)', which is not in the vocabulary", file: source)
            }
            let key = UInt64(ia) << 32 | UInt64(ib)
            if table[key] == nil { table[key] = (Int32(rank), Int32(im)) }
        }
        if let unkToken, v[TokenKey(unkToken)] == nil {
            throw WorkbenchError("unk_token '\(unkToken)' is not in the vocabulary", file: source)
        }
        self.vocab = v
        idToToken = reverse
        self.merges = table
        self.unkToken = unkToken
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        mergeList = merges
    }

    public func id(of token: String) -> Int? { vocab[TokenKey(token)] }

    /// Token ids for one pre-tokenized piece.
    public func tokenize(_ piece: [Unicode.Scalar]) -> [Int] {
        if piece.isEmpty { return [] }
        let key = TokenKey(String(scalars: piece))
        if let cached = cache.get(key) { return cached }
        let ids = tokenizeUncached(piece, word: key)
        cache.set(key, ids)
        return ids
    }

    private func tokenizeUncached(_ piece: [Unicode.Scalar], word: TokenKey) -> [Int] {
        if ignoreMerges, let id = vocab[word] { return [id] }
        // Initial symbols: one per scalar (with prefix/suffix), byte fallback or unk.
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        let unkID = unkToken.flatMap { vocab[TokenKey($0)] }
        var previousWasUnk = false
        for (i, scalar) in piece.enumerated() {
            var s = String(scalar)
            if i > 0, let prefix = continuingSubwordPrefix { s = prefix + s }
            if i == piece.count - 1, let suffix = endOfWordSuffix { s += suffix }
            if let id = vocab[TokenKey(s)] {
                symbols.append(Int32(id)); previousWasUnk = false; continue
            }
            if byteFallback {
                let byteIDs = String(scalar).utf8.map { vocab[TokenKey(String(format: "<0x%02X>", $0))] }
                if byteIDs.allSatisfy({ $0 != nil }) {
                    symbols.append(contentsOf: byteIDs.map { Int32($0!) }); previousWasUnk = false; continue
                }
            }
            if let unkID {
                if fuseUnk && previousWasUnk { continue }
                symbols.append(Int32(unkID)); previousWasUnk = true
            }
        }
        // Merge the lowest-ranked adjacent pair until none is in the merge table
        // (ties: leftmost first, as tokenizers' priority queue pops them).
        while symbols.count > 1 {
            var bestRank = Int32.max, bestAt = -1, bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = merges[key], m.rank < bestRank { bestRank = m.rank; bestAt = i; bestID = m.id }
            }
            if bestAt < 0 { break }
            symbols[bestAt] = bestID
            symbols.remove(at: bestAt + 1)
        }
        return symbols.map { Int($0) }
    }
}

/// A word → ids cache shared by the threads encoding with one model, in shards
/// with a lock each so that threads rarely wait for one another.
final class WordCache: @unchecked Sendable {
    private final class Shard {
        var table: [TokenKey: [Int]] = [:]
        let lock = NSLock()
    }
    private let shards = (0..<16).map { _ in Shard() }
    private let capacityPerShard = 16_384

    private func shard(_ key: TokenKey) -> Shard { shards[Int(UInt(bitPattern: key.hashValue) % 16)] }

    func get(_ key: TokenKey) -> [Int]? {
        let s = shard(key)
        s.lock.lock(); defer { s.lock.unlock() }
        return s.table[key]
    }

    func set(_ key: TokenKey, _ ids: [Int]) {
        let s = shard(key)
        s.lock.lock(); defer { s.lock.unlock() }
        if s.table.count >= capacityPerShard { s.table.removeAll(keepingCapacity: true) }
        s.table[key] = ids
    }
}
