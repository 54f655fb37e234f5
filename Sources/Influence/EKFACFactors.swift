import Cluster
import Foundation
import Model
import Corpus
import Formats
import Tokenizers

/// EK-FAC factors of one module (methods.md §3): the eigenbases of A = E[a aᵀ] and
/// S = E[g gᵀ] and the corrected eigenvalues Λ = mean over sequences of (Q_Sᵀ G Q_A)².
public struct ModuleFactors {
    public let module: TrackedModule
    /// Eigenvectors as columns, row-major: Q_A [in, in], Q_S [out, out].
    public var qa: [Float]
    public var qs: [Float]
    /// Eigenvalues of A and S (ascending; for inspection, EK-FAC uses Λ).
    public var eigenvaluesA: [Double]
    public var eigenvaluesS: [Double]
    /// Λ [out, in].
    public var lambda: [Float]

    /// λ = 0.1 × mean(Λ): the default damping.
    public var heuristicDamping: Double { 0.1 * lambda.reduce(0.0) { $0 + Double($1) } / Double(max(lambda.count, 1)) }
}

public struct EKFACFactors {
    public enum Fisher: String, Sendable { case `true`, empirical }

    public var modules: [ModuleFactors]
    public var tokenCount: Int
    public var sequenceCount: Int
    public var fisher: Fisher
    public var maxLength: Int
    public var modelHash: String

    public struct Options: Sendable {
        public var fisher: Fisher = .true
        public var maxLength = 512
        public var seed: UInt64 = 0
        public init() {}
    }

    /// Two passes over the documents: covariances (then eigendecompositions in float64), then Λ.
    /// `progress(pass, documentsDone)` is called after every document this rank fits.
    public static func fit(model: TransformerModel, tokenizer: Tokenizer, documents: DocumentStream, modules: [TrackedModule],
                           options: Options, group: ProcessGroup = .single,
                           progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> EKFACFactors {
        try fit(model: model, sequences: { body in
            try documents.forEach { doc in
                // Only this rank's documents are tokenized.
                guard doc.index % group.size == group.rank else { return true }
                return try body(doc.index, Array(tokenizer.encode(doc.text).prefix(options.maxLength)))
            }
        }, modules: modules, options: options, group: group, progress: progress)
    }

    /// The same over token sequences: `sequences` calls its argument with (index, tokens)
    /// for every sequence, in the same order each time it is called.
    ///
    /// Under MPI (`group` of several ranks) rank r fits the sequences with index ≡ r (mod size);
    /// the float64 sums of both passes and the counts are added in rank order, rank r
    /// eigendecomposes the modules i ≡ r (mod size) and sends them to all, so every rank returns
    /// the same factors. Float addition is not associative: against one process the sums
    /// differ in their last bits (docs/scaling.md gives the measured differences).
    public static func fit(model: TransformerModel, sequences: (((Int, [Int]) throws -> Bool) throws -> Void),
                           modules: [TrackedModule], options: Options, group: ProcessGroup = .single,
                           progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> EKFACFactors {
        let capture = GradientCapture(model: model, modules: modules)
        func labels(_ pass: UInt64, _ index: Int) -> LabelSource {
            options.fisher == .empirical ? .data : .sampled(seed: options.seed &* 0x9E37_79B9 &+ pass << 40 &+ UInt64(index))
        }
        // Pass 1: Σ a aᵀ and Σ g gᵀ over every real token (A counts the last token too, whose g is 0).
        // Modules are independent: their updates run in parallel, each into its own buffer.
        let sumsA = DoubleBuffers(modules.map { $0.inputDimension * $0.inputDimension })
        let sumsS = DoubleBuffers(modules.map { $0.outputDimension * $0.outputDimension })
        // One float Gram buffer per module, reused for every sequence (ssyrk overwrites it).
        let grams = modules.map { Tensor(zeros: [max($0.inputDimension, $0.outputDimension) * max($0.inputDimension, $0.outputDimension)]) }
        var tokens = 0, sequenceCount = 0
        func owned(_ index: Int) -> Bool { index % group.size == group.rank }
        try sequences { index, ids in
            guard !ids.isEmpty, owned(index) else { return true }
            let (_, activity) = try capture.run(tokens: ids, labels: labels(1, index))
            Parallel.forEachChunk(modules.count, costPerItem: 1 << 20) { range in
                for i in range {
                    let m = modules[i], act = activity[m.id]!
                    addGram(act.a, rows: act.rows, width: m.inputDimension, scratch: grams[i].mutableData, into: sumsA[i])
                    addGram(act.g, rows: act.rows, width: m.outputDimension, scratch: grams[i].mutableData, into: sumsS[i])
                }
            }
            tokens += ids.count; sequenceCount += 1
            progress(1, sequenceCount)
            return true
        }
        tokens = try group.sum(tokens)
        sequenceCount = try group.sum(sequenceCount)
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
                        let (qa, ea) = try eigen(sumsA[i], n: m.inputDimension, count: tokens, name: "\(m.name) activation covariance A")
                        let (qs, es) = try eigen(sumsS[i], n: m.outputDimension, count: tokens, name: "\(m.name) gradient covariance S")
                        return ModuleFactors(module: m, qa: qa, qs: qs, eigenvaluesA: ea, eigenvaluesS: es,
                                             lambda: [Float](repeating: 0, count: m.parameterCount))
                    }
                }
            }
        }
        var factors: [ModuleFactors] = []
        for (i, m) in modules.enumerated() {
            var factor = try decompositions[i]?.get()
                ?? ModuleFactors(module: m, qa: [Float](repeating: 0, count: m.inputDimension * m.inputDimension),
                                 qs: [Float](repeating: 0, count: m.outputDimension * m.outputDimension),
                                 eigenvaluesA: [], eigenvaluesS: [], lambda: [Float](repeating: 0, count: m.parameterCount))
            if group.isDistributed { try factor.broadcastDecomposition(from: owner(i), in: group) }
            factors.append(factor)
        }
        // Pass 2: Λ = mean over sequences of (Q_Sᵀ G Q_A)², with G = gᵀ a, i.e. ((g Q_S)ᵀ (a Q_A))².
        let lambdaSums = DoubleBuffers(modules.map(\.parameterCount))
        var done = 0
        let fitted = factors
        try sequences { index, ids in
            guard !ids.isEmpty, owned(index) else { return true }
            let (_, activity) = try capture.run(tokens: ids, labels: labels(2, index))
            Parallel.forEachChunk(fitted.count, costPerItem: 1 << 20) { range in
                for i in range {
                    let rotated = fitted[i].rotate(activity[fitted[i].module.id]!)
                    let total = lambdaSums[i]
                    for j in 0..<rotated.count { total[j] += Double(rotated[j]) * Double(rotated[j]) }
                }
            }
            done += 1
            progress(2, done)
            return true
        }
        for i in factors.indices { try group.sumInRankOrder(lambdaSums[i], count: factors[i].module.parameterCount) }
        for i in factors.indices {
            factors[i].lambda = (0..<factors[i].module.parameterCount).map { Float(lambdaSums[i][$0] / Double(sequenceCount)) }
            if let bad = factors[i].lambda.firstIndex(where: { !$0.isFinite }) {
                throw WorkbenchError("\(factors[i].module.name): corrected eigenvalue \(bad) is not finite")
            }
        }
        return EKFACFactors(modules: factors, tokenCount: tokens, sequenceCount: sequenceCount, fisher: options.fisher,
                            maxLength: options.maxLength, modelHash: model.fingerprint)
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

extension ModuleFactors {
    /// Copies the eigendecomposition (Q_A, Q_S and the eigenvalues) from rank `root` to every rank.
    mutating func broadcastDecomposition(from root: Int, in group: ProcessGroup) throws {
        try group.broadcast(&qa, from: root)
        try group.broadcast(&qs, from: root)
        for keyPath in [\ModuleFactors.eigenvaluesA, \ModuleFactors.eigenvaluesS] {
            let data = self[keyPath: keyPath].withUnsafeBytes { Data($0) }
            let shared = try group.broadcast(data, from: root)
            self[keyPath: keyPath] = shared.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        }
    }
}

/// One float64 accumulator per module, written by one worker at a time.
final class DoubleBuffers: @unchecked Sendable {
    private let buffers: [UnsafeMutablePointer<Double>]
    init(_ sizes: [Int]) {
        buffers = sizes.map { size in
            let p = UnsafeMutablePointer<Double>.allocate(capacity: size)
            p.initialize(repeating: 0, count: size)
            return p
        }
    }
    deinit { buffers.forEach { $0.deallocate() } }
    subscript(_ i: Int) -> UnsafeMutablePointer<Double> { buffers[i] }
}


extension ModuleFactors {
    /// Q_Sᵀ G Q_A for G = gᵀ a, computed as (g Q_S)ᵀ (a Q_A): [out, in].
    public func rotate(_ activity: ModuleActivity) -> [Float] {
        let (n, o, T) = (module.inputDimension, module.outputDimension, activity.rows)
        var aq = [Float](repeating: 0, count: T * n), gq = [Float](repeating: 0, count: T * o)
        var out = [Float](repeating: 0, count: o * n)
        sgemm(m: T, n: n, k: n, a: activity.a, lda: n, b: qa, ldb: n, c: &aq, ldc: n)
        sgemm(m: T, n: o, k: o, a: activity.g, lda: o, b: qs, ldb: o, c: &gq, ldc: o)
        sgemm(transA: true, m: o, n: n, k: T, a: gq, lda: o, b: aq, ldb: n, c: &out, ldc: n)
        return out
    }

    /// (G + λI)⁻¹ applied to a weight gradient G in the EK-FAC approximation:
    /// Q_S [(Q_Sᵀ G Q_A) / (Λ + λ)] Q_Aᵀ (methods.md §3).
    public func precondition(_ G: [Float], damping: Double) -> [Float] {
        let (n, o) = (module.inputDimension, module.outputDimension)
        var tmp = [Float](repeating: 0, count: o * n), rotated = [Float](repeating: 0, count: o * n)
        sgemm(transA: true, m: o, n: n, k: o, a: qs, lda: o, b: G, ldb: n, c: &tmp, ldc: n)
        sgemm(m: o, n: n, k: n, a: tmp, lda: n, b: qa, ldb: n, c: &rotated, ldc: n)
        for i in 0..<rotated.count { rotated[i] = Float(Double(rotated[i]) / (Double(lambda[i]) + damping)) }
        sgemm(m: o, n: n, k: o, a: qs, lda: o, b: rotated, ldb: n, c: &tmp, ldc: n)
        sgemm(transB: true, m: o, n: n, k: n, a: tmp, lda: n, b: qa, ldb: n, c: &rotated, ldc: n)
        return rotated
    }
}
