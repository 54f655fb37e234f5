import Cluster
import Foundation
import Model

/// The two passes of `EKFACFactors.fit` over one process's sequences (methods.md §3).
struct FitPass {
    let capture: GradientCapture
    let modules: [TrackedModule]
    let options: EKFACFactors.Options
    let group: ProcessGroup
    let checkpoint: FitCheckpoint?
    let progress: (Int, Int) -> Void

    typealias Sequences = (Int, (Int, [Int]) throws -> Bool) throws -> Void

    private func labels(_ pass: UInt64, _ index: Int) -> LabelSource {
        options.fisher == .empirical ? .data : .sampled(seed: options.seed &* 0x9E37_79B9 &+ pass << 40 &+ UInt64(index))
    }

    /// Pass 1: Σ a aᵀ and Σ g gᵀ over every real token (A counts the last token too, whose g is 0),
    /// added over the ranks, then each module's eigendecompositions in float64. Returns the
    /// factors (Λ still zero) and the token and sequence counts over all ranks.
    func covariances(_ sequencesFrom: Sequences, resuming saved: SavedFit?) throws -> (factors: [ModuleFactors], tokens: Int, sequences: Int) {
        // Modules are independent: their updates run in parallel, each into its own buffer.
        let sumsA = DoubleBuffers(modules.map { $0.inputDimension * $0.inputDimension })
        let sumsS = DoubleBuffers(modules.map { $0.outputDimension * $0.outputDimension })
        // One float Gram buffer per module, reused for every sequence (ssyrk overwrites it).
        let grams = modules.map { Tensor(zeros: [max($0.inputDimension, $0.outputDimension) * max($0.inputDimension, $0.outputDimension)]) }
        var position = FitCheckpoint.Position(pass: 1, nextIndex: 0, tokens: 0, sequences: 0, done: 0)
        if let saved, saved.position.pass == 1 {
            try saved.readSums(intoA: sumsA, s: sumsS)
            position = saved.position
            progress(1, position.sequences)
        }
        try forEachSequence(sequencesFrom, pass: 1, position: &position) { i, act in
            let m = modules[i]
            Self.addGram(act.a, rows: act.rows, width: m.inputDimension, scratch: grams[i].mutableData, into: sumsA[i])
            Self.addGram(act.g, rows: act.rows, width: m.outputDimension, scratch: grams[i].mutableData, into: sumsS[i])
        } finished: { position, tokenCount in
            position.tokens += tokenCount; position.sequences += 1
            if let checkpoint, checkpoint.due { try checkpoint.savePass1(position, sumsA: sumsA, sumsS: sumsS) }
            progress(1, position.sequences)
        }
        let tokens = try group.sum(position.tokens)
        let sequenceCount = try group.sum(position.sequences)
        guard sequenceCount > 0 else { throw WorkbenchError("no documents with tokens") }
        // Module i's sums meet on rank i mod size, which eigendecomposes it.
        func owner(_ i: Int) -> Int { i % group.size }
        for i in modules.indices {
            try group.sumInRankOrder(sumsA[i], count: modules[i].inputDimension * modules[i].inputDimension, root: owner(i))
            try group.sumInRankOrder(sumsS[i], count: modules[i].outputDimension * modules[i].outputDimension, root: owner(i))
        }
        var decompositions = [Result<ModuleFactors, Error>?](repeating: nil, count: modules.count)
        let mine = modules.indices.filter { owner($0) == group.rank }
        decompositions.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(mine.count, costPerItem: 1 << 20) { range in
                for i in range.map({ mine[$0] }) {
                    let m = modules[i]
                    out[i] = Result {
                        let (qa, ea) = try Self.eigen(sumsA[i], n: m.inputDimension, count: tokens, name: "\(m.name) activation covariance A")
                        let (qs, es) = try Self.eigen(sumsS[i], n: m.outputDimension, count: tokens, name: "\(m.name) gradient covariance S")
                        return ModuleFactors(module: m, qa: qa, qs: qs, eigenvaluesA: ea, eigenvaluesS: es,
                                             lambda: [Float](repeating: 0, count: m.parameterCount))
                    }
                }
            }
        }
        var factors: [ModuleFactors] = []
        for (i, m) in modules.enumerated() {
            var factor = try decompositions[i]?.get() ?? ModuleFactors.empty(m)
            if group.isDistributed { try factor.broadcastDecomposition(from: owner(i), in: group) }
            factors.append(factor)
        }
        return (factors, tokens, sequenceCount)
    }

    /// Pass 2: Σ over sequences of (Q_Sᵀ G Q_A)², with G = gᵀ a, i.e. ((g Q_S)ᵀ (a Q_A))², into
    /// `sums` (which hold the saved sums on a resume), added over the ranks.
    func lambda(_ sequencesFrom: Sequences, factors: [ModuleFactors], into sums: DoubleBuffers,
                from start: FitCheckpoint.Position) throws {
        var position = start
        if position.done > 0 { progress(2, position.done) }
        try forEachSequence(sequencesFrom, pass: 2, position: &position) { i, act in
            let rotated = factors[i].rotate(act)
            let total = sums[i]
            for j in 0..<rotated.count { total[j] += Double(rotated[j]) * Double(rotated[j]) }
        } finished: { position, _ in
            position.done += 1
            if let checkpoint, checkpoint.due { try checkpoint.savePass2(position, factors: factors, lambdaSums: sums) }
            progress(2, position.done)
        }
        for i in factors.indices { try group.sumInRankOrder(sums[i], count: factors[i].module.parameterCount) }
    }

    /// Runs the model on this rank's sequences from `position.nextIndex` on (the labels of the
    /// true Fisher drawn per pass and sequence), hands every module's activity to `add(module
    /// index, activity)`, the modules in parallel, then calls `finished(&position, tokens)`.
    private func forEachSequence(_ sequencesFrom: Sequences, pass: UInt64, position: inout FitCheckpoint.Position,
                                 add: (Int, ModuleActivity) -> Void,
                                 finished: (inout FitCheckpoint.Position, Int) throws -> Void) throws {
        var current = position
        try withoutActuallyEscaping(add) { add in
            try withoutActuallyEscaping(finished) { finished in
                try sequencesFrom(current.nextIndex) { index, ids in
                    current.nextIndex = index + 1
                    guard !ids.isEmpty, index % group.size == group.rank else { return true }
                    let (_, activity) = try capture.run(tokens: ids, labels: labels(pass, index))
                    Parallel.forEachChunk(modules.count, costPerItem: 1 << 20) { range in
                        for i in range { add(i, activity[modules[i].id]!) }
                    }
                    try finished(&current, ids.count)
                    return true
                }
            }
        }
        position = current
    }

    /// Adds XᵀX (float32 GEMM of one sequence, into `gram` of at least n² floats) into a float64 sum.
    static func addGram(_ x: [Float], rows: Int, width n: Int, scratch gram: UnsafeMutablePointer<Float>,
                        into total: UnsafeMutablePointer<Double>) {
        x.withUnsafeBufferPointer { xp in ssyrkUpper(n: n, k: rows, a: xp.baseAddress!, c: gram) }
        for i in 0..<n { for j in i..<n { total[i * n + j] += Double(gram[i * n + j]) } }
    }

    /// Eigendecomposition of sum / count (upper triangle filled, symmetrised) in float64.
    static func eigen(_ sum: UnsafeMutablePointer<Double>, n: Int, count: Int, name: String) throws -> (vectors: [Float], values: [Double]) {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                let v = sum[i * n + j] / Double(count)
                guard v.isFinite else { throw WorkbenchError("\(name) has a non-finite entry at (\(i), \(j)); the model produced NaN or Inf") }
                c[i * n + j] = v; c[j * n + i] = v
            }
        }
        do {
            let (values, vectors) = try LinearAlgebra.symmetricEigen(c, n: n)
            return (vectors.map { Float($0) }, values)
        } catch let e as WorkbenchError { throw WorkbenchError("\(name): \(e.message)") }
    }
}

