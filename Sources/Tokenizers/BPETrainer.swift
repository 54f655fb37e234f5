import Foundation
import Model

/// Byte-level BPE training: the vocabulary starts with the 256 byte symbols; each
/// step merges the most frequent adjacent pair over the pre-tokenized corpus (ties:
/// the pair whose left, then right, id is smallest, so training is deterministic);
/// the style's special tokens come last.
public struct BPETrainer {
    public var style: TokenizerStyle
    public var vocabularySize: Int
    /// Pairs seen fewer times than this are never merged.
    public var minFrequency: Int

    public init(style: TokenizerStyle, vocabularySize: Int, minFrequency: Int = 2) {
        self.style = style
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
    }

    public struct Result {
        public var vocab: [String: Int]
        public var merges: [(String, String)]
        public var tokenizer: Tokenizer
        /// Distinct pre-tokenized words and their total count.
        public var distinctWords: Int
        public var totalWords: Int
    }

    /// Trains on `documents`. `progress` receives (merges done, merges wanted).
    public func train(documents: [String], progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let minimum = 256 + style.specialTokens.count
        guard vocabularySize >= minimum else {
            throw WorkbenchError("vocabulary size \(vocabularySize) is too small: the \(style.rawValue) style needs at least \(minimum) (256 bytes + special tokens)")
        }
        // Pre-tokenize with the style's own pipeline (no merges yet).
        let splitter = try style.tokenizer(vocab: [:], merges: [])
        var counts: [TokenKey: Int] = [:]
        let lock = NSLock()
        Parallel.forEachChunk(documents.count, costPerItem: 1_000_000) { range in
            var local: [TokenKey: Int] = [:]
            for i in range {
                for piece in splitter.preTokenize(documents[i]) {
                    local[TokenKey(String(String.UnicodeScalarView(piece))), default: 0] += 1
                }
            }
            lock.lock()
            for (k, v) in local { counts[k, default: 0] += v }
            lock.unlock()
        }
        // Symbols: byte b has id b (its byte-level character).
        var idOf: [UInt32: Int32] = [:]
        var tokens: [String] = []
        for (b, s) in ByteLevelMap.byteToScalar.enumerated() { idOf[s.value] = Int32(b); tokens.append(String(s)) }
        let sortedWords = counts.sorted { $0.key.string.utf8.lexicographicallyPrecedes($1.key.string.utf8) }
        var words: [[Int32]] = sortedWords.map { w in w.key.string.unicodeScalars.map { idOf[$0.value]! } }
        let freq: [Int] = sortedWords.map(\.value)

        var pairCount: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, symbols) in words.enumerated() where symbols.count > 1 {
            for i in 0..<(symbols.count - 1) {
                let k = key(symbols[i], symbols[i + 1])
                pairCount[k, default: 0] += freq[w]
                pairWords[k, default: []].append(Int32(w))
            }
        }
        var heap = PairHeap()
        for (k, c) in pairCount { heap.push(count: c, pair: k) }

        let wanted = vocabularySize - style.specialTokens.count - 256
        var merges: [(String, String)] = []
        while merges.count < wanted, let top = heap.pop() {
            guard let current = pairCount[top.pair], current > 0 else { continue }
            if current != top.count { heap.push(count: current, pair: top.pair); continue }  // stale entry
            if current < minFrequency { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32), b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let new = Int32(tokens.count)
            tokens.append(tokens[Int(a)] + tokens[Int(b)])
            merges.append((tokens[Int(a)], tokens[Int(b)]))
            var touched = Set<UInt64>()
            for w32 in Set(pairWords[top.pair] ?? []) {
                let w = Int(w32)
                let old = words[w]
                guard old.count > 1 else { continue }
                var merged: [Int32] = []
                merged.reserveCapacity(old.count)
                var i = 0
                var changed = false
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                        merged.append(new); i += 2; changed = true
                    } else {
                        merged.append(old[i]); i += 1
                    }
                }
                guard changed else { continue }
                let f = freq[w]
                for j in 0..<(old.count - 1) {
                    let k = key(old[j], old[j + 1])
                    pairCount[k, default: 0] -= f
                    touched.insert(k)
                }
                for j in 0..<max(0, merged.count - 1) {
                    let k = key(merged[j], merged[j + 1])
                    pairCount[k, default: 0] += f
                    if merged[j] == new || merged[j + 1] == new { pairWords[k, default: []].append(w32) }
                    touched.insert(k)
                }
                words[w] = merged
            }
            pairCount[top.pair] = 0
            pairWords[top.pair] = nil
            for k in touched where k != top.pair { if let c = pairCount[k], c > 0 { heap.push(count: c, pair: k) } }
            progress?(merges.count, wanted)
        }
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        for (i, s) in style.specialTokens.enumerated() { vocab[s] = tokens.count + i }
        return Result(vocab: vocab, merges: merges, tokenizer: try style.tokenizer(vocab: vocab, merges: merges),
                      distinctWords: counts.count, totalWords: freq.reduce(0, +))
    }
}

/// Max-heap of (count, pair); among equal counts the smaller pair key comes first.
struct PairHeap {
    private var items: [(count: Int, pair: UInt64)] = []

    private func above(_ x: (count: Int, pair: UInt64), _ y: (count: Int, pair: UInt64)) -> Bool {
        x.count > y.count || (x.count == y.count && x.pair < y.pair)
    }

    mutating func push(count: Int, pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (count: Int, pair: UInt64)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && above(items[l], items[best]) { best = l }
                if r < items.count && above(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
