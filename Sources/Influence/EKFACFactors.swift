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
    /// `progress(pass, documentsDone)` is called after every document this rank fits. With
    /// `checkpoints` the state is saved as it goes and a rerun resumes from it (FitCheckpoint).
    public static func fit(model: TransformerModel, tokenizer: Tokenizer, documents: DocumentStream, modules: [TrackedModule],
                           options: Options, group: ProcessGroup = .single, checkpoints: FitCheckpoints? = nil,
                           progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> EKFACFactors {
        try fit(model: model, sequencesFrom: { first, body in
            try documents.forEach { doc in
                // Only this rank's documents, and only those not done before a resume, are tokenized.
                guard doc.index >= first, doc.index % group.size == group.rank else { return true }
                return try body(doc.index, Array(tokenizer.encode(doc.text).prefix(options.maxLength)))
            }
        }, modules: modules, options: options, group: group, checkpoints: checkpoints, progress: progress)
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
                           checkpoints: FitCheckpoints? = nil,
                           progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> EKFACFactors {
        try fit(model: model, sequencesFrom: { first, body in
            try withoutActuallyEscaping(body) { body in try sequences { i, ids in i < first ? true : try body(i, ids) } }
        },
                modules: modules, options: options, group: group, checkpoints: checkpoints, progress: progress)
    }

    /// `sequencesFrom(first, body)` calls `body` for the sequences with index ≥ first.
    private static func fit(model: TransformerModel, sequencesFrom: ((Int, (Int, [Int]) throws -> Bool) throws -> Void),
                            modules: [TrackedModule], options: Options, group: ProcessGroup, checkpoints: FitCheckpoints?,
                            progress: @escaping (Int, Int) -> Void) throws -> EKFACFactors {
        let pass = FitPass(capture: GradientCapture(model: model, modules: modules), modules: modules, options: options, group: group,
                           checkpoint: checkpoints.map { FitCheckpoint($0, modules: modules) }, progress: progress)
        let saved = try pass.checkpoint?.load()
        // Where to resume: once any rank has saved pass 2, the pass-1 sums have been added and
        // decomposed, so every rank continues in pass 2 with that rank's factors (a rank killed
        // before its own pass-2 save restarts pass 2 from its first sequence).
        let passes = try group.allGather(Data([UInt8(saved?.position.pass ?? 0)])).map { Int($0.first ?? 0) }
        var factors: [ModuleFactors], tokens: Int, sequenceCount: Int
        let resumingPass2 = passes.firstIndex(of: 2)
        if let source = resumingPass2 {
            factors = try saved?.position.pass == 2 ? saved!.readFactors() : modules.map(ModuleFactors.empty)
            var totals = [saved?.position.tokens ?? 0, saved?.position.sequences ?? 0].map(Double.init)
            if group.isDistributed {
                for i in factors.indices { try factors[i].broadcastDecomposition(from: source, in: group) }
                try totals.withUnsafeMutableBytes { try group.broadcast($0.baseAddress!, bytes: 16, from: source) }
            }
            (tokens, sequenceCount) = (Int(totals[0]), Int(totals[1]))
        } else {
            (factors, tokens, sequenceCount) = try pass.covariances(sequencesFrom, resuming: saved)
        }
        // Allocated once pass 1's sums are gone: the two sets of float64 sums never coexist.
        let lambdaSums = DoubleBuffers(modules.map(\.parameterCount))
        var resumeAt = FitCheckpoint.Position(pass: 2, nextIndex: 0, tokens: 0, sequences: 0, done: 0)
        if let saved, saved.position.pass == 2 {
            try saved.readLambdaSums(into: lambdaSums)
            resumeAt = saved.position
        }
        resumeAt.tokens = tokens; resumeAt.sequences = sequenceCount
        if resumingPass2 == nil { try pass.checkpoint?.savePass2(resumeAt, factors: factors, lambdaSums: lambdaSums) }
        try pass.lambda(sequencesFrom, factors: factors, into: lambdaSums, from: resumeAt)
        for i in factors.indices {
            factors[i].lambda = (0..<factors[i].module.parameterCount).map { Float(lambdaSums[i][$0] / Double(sequenceCount)) }
            if let bad = factors[i].lambda.firstIndex(where: { !$0.isFinite }) {
                throw WorkbenchError("\(factors[i].module.name): corrected eigenvalue \(bad) is not finite")
            }
        }
        return EKFACFactors(modules: factors, tokenCount: tokens, sequenceCount: sequenceCount, fisher: options.fisher,
                            maxLength: options.maxLength, modelHash: model.fingerprint)
    }
}

extension ModuleFactors {
    /// Zero factors of the right shapes, to be filled by a broadcast.
    static func empty(_ m: TrackedModule) -> ModuleFactors {
        ModuleFactors(module: m, qa: [Float](repeating: 0, count: m.inputDimension * m.inputDimension),
                      qs: [Float](repeating: 0, count: m.outputDimension * m.outputDimension),
                      eigenvaluesA: [], eigenvaluesS: [], lambda: [Float](repeating: 0, count: m.parameterCount))
    }

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

    /// Rank-r factors of the preconditioned gradient P = Q_S P̃ Q_Aᵀ of G = gᵀ a, where
    /// P̃ = (Q_Sᵀ G Q_A) / (Λ + λ) is formed from the tokens' factors (`rotate`, G itself never
    /// is). Q_S and Q_A are orthogonal, so the singular vectors of P are those of P̃ rotated:
    /// P ≈ (Q_S Ũ Σ)(Q_A Ṽ)ᵀ, returned as u [out, r] (σ folded in) and v [in, r]; `retained`
    /// holds Σ σ_k² and ‖P‖²_F, the share of the query the rank keeps.
    public func lowRankPrecondition(_ activity: ModuleActivity, damping: Double, rank: Int, seed: UInt64) throws
        -> (u: [Float], v: [Float], retained: (kept: Double, total: Double)) {
        let (n, o) = (module.inputDimension, module.outputDimension)
        var tilde = rotate(activity)
        for i in 0..<tilde.count { tilde[i] = Float(Double(tilde[i]) / (Double(lambda[i]) + damping)) }
        let (us, v, retained) = try lowRankFactors(tilde, rows: o, columns: n, rank: rank, seed: seed)
        let r = us.count / o
        var U = [Float](repeating: 0, count: o * r), V = [Float](repeating: 0, count: n * r)
        sgemm(m: o, n: r, k: o, a: qs, lda: o, b: us, ldb: r, c: &U, ldc: r)
        sgemm(m: n, n: r, k: n, a: qa, lda: n, b: v, ldb: r, c: &V, ldc: r)
        return (U, V, retained)
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

/// Rank-r factors of a [rows, columns] block by the randomized SVD: u [rows, r] with σ folded
/// in, v [columns, r], and the squared Frobenius norm they keep out of the block's.
func lowRankFactors(_ block: [Float], rows o: Int, columns n: Int, rank: Int, seed: UInt64) throws
    -> (u: [Float], v: [Float], retained: (kept: Double, total: Double)) {
    var (u, sigma, v) = try LinearAlgebra.randomizedSVD(block, rows: o, columns: n, rank: rank, seed: seed)
    let r = sigma.count
    for i in 0..<o { for k in 0..<r { u[i * r + k] *= sigma[k] } }
    return (u, v, (sigma.reduce(0.0) { $0 + Double($1) * Double($1) }, block.reduce(0.0) { $0 + Double($1) * Double($1) }))
}
