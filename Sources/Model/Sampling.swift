import Foundation

/// xoshiro256** seeded through SplitMix64: a small, fast generator whose stream
/// depends only on its seed, so sampling is reproducible on any machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// An integer in 0..<n (by modulo: the tiny bias is part of the reproducible stream).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Fisher–Yates shuffle in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, below(i + 1)) }
    }
}

/// How the next token is chosen from a row of logits.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep the k most likely tokens (0 = no limit).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = no limit).
    public var topP: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public static let greedy = SamplingOptions(temperature: 0)

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw WorkbenchError("temperature must be ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw WorkbenchError("top-k must be ≥ 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw WorkbenchError("top-p must be in (0, 1], got \(topP)") }
    }
}

public enum Sampler {
    /// Index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestV = -Float.infinity
        for (i, v) in row.enumerated() where v > bestV { best = i; bestV = v }
        return best
    }

    /// Draws one token from `logits` (one row of V values).
    public static func sample(_ logits: UnsafeBufferPointer<Float>, options o: SamplingOptions,
                              rng: inout SeededGenerator) -> Int {
        if o.temperature == 0 { return argmax(logits) }
        let V = logits.count
        // Softmax of logits / T.
        let invT = 1 / o.temperature
        var maxV = -Float.infinity
        for v in logits { maxV = max(maxV, v) }
        var probs = [Float](repeating: 0, count: V)
        var total: Float = 0
        for i in 0..<V { let e = exp((logits[i] - maxV) * invT); probs[i] = e; total += e }
        for i in 0..<V { probs[i] /= total }

        let restrict = (o.topK > 0 && o.topK < V) || o.topP < 1
        if !restrict { return draw(from: probs, indices: nil, mass: 1, rng: &rng) }

        // Candidates in descending probability; a partial pass usually suffices.
        let keepK = o.topK > 0 ? min(o.topK, V) : V
        var candidates: [Int] = []
        var width = min(keepK, 256)
        while true {
            candidates = topIndices(probs, count: width)
            let mass = candidates.reduce(Float(0)) { $0 + probs[$1] }
            if width >= keepK || mass >= o.topP { break }
            width = min(keepK, width * 16)
        }
        // Nucleus: the shortest prefix whose mass reaches top-p (at least one token).
        var kept = 0
        var mass: Float = 0
        for i in candidates {
            kept += 1
            mass += probs[i]
            if mass >= o.topP { break }
        }
        return draw(from: probs, indices: Array(candidates.prefix(kept)), mass: mass, rng: &rng)
    }

    /// Indices of the `count` largest values, largest first (ties: lower index first).
    static func topIndices(_ values: [Float], count: Int) -> [Int] {
        if count >= values.count {
            return values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        }
        // Keep a sorted buffer of the best `count`; cheap when count ≪ V.
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        var threshold = -Float.infinity
        for i in values.indices {
            let v = values[i]
            if best.count == count && v <= threshold { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if values[best[mid]] >= v { lo = mid + 1 } else { hi = mid }
            }
            best.insert(i, at: lo)
            if best.count > count { best.removeLast() }
            if best.count == count { threshold = values[best[count - 1]] }
        }
        return best
    }

    private static func draw(from probs: [Float], indices: [Int]?, mass: Float, rng: inout SeededGenerator) -> Int {
        let u = rng.nextUnitFloat() * mass
        var acc: Float = 0
        if let indices {
            for i in indices { acc += probs[i]; if u < acc { return i } }
            return indices.last!
        }
        var last = 0
        for i in probs.indices where probs[i] > 0 {
            acc += probs[i]
            last = i
            if u < acc { return i }
        }
        return last
    }
}
