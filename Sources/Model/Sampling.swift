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

    /// The generator's whole state, for checkpoints: `SeededGenerator(state:)` continues the
    /// same stream.
    public var state: [UInt64] { [s.0, s.1, s.2, s.3] }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "a generator state has 4 words")
        s = (state[0], state[1], state[2], state[3])
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
