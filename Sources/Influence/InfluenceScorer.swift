import Foundation
import Model
import Corpus
import Tokenizers

/// How scores are scaled before they are written (the raw scores are what is computed).
public enum ScoreNormalization: String, CaseIterable, Sendable {
    /// ∇log p(completion)ᵀ (G + λI)⁻¹ ∇log p(document).
    case raw
    /// Divided by the query's completion NLL in nats (the procedural-knowledge paper's choice).
    case nll
    /// Divided by the number of document tokens.
    case token
}

/// One document's raw scores against every query.
public struct DocumentScores: Sendable {
    public var index: Int
    /// [Q]
    public var total: [Float]
    /// [M][Q] when per-module scores are asked for.
    public var perModule: [[Float]]?
    /// [Q][T] when per-token scores are asked for: token t's share g_tᵀ P_q a_t (summed over modules).
    public var perToken: [[Float]]?
    public var tokenCount: Int
}

/// Queries prepared once: their measurement gradients, preconditioned per module with
/// the EK-FAC factors (methods.md §3). Documents are then scored one at a time against
/// all of them: the corpus is read once for every query.
public final class InfluenceScorer {
    public let model: TransformerModel
    public let tokenizer: Tokenizer
    public let factors: EKFACFactors
    public let queries: [Query]
    /// λ per module.
    public let dampings: [Double]
    /// Completion NLL per query, nats: summed over the tokens `queryTokenMasks` selects.
    public let queryNLL: [Double]
    public let maxLength: Int
    /// Per module, the preconditioned query gradients stacked: [Q, out · in] (full rank).
    let preconditioned: [[Float]]
    /// With --query-rank: per query, the share of its preconditioned gradient's squared
    /// Frobenius norm (over all modules) that its rank-r factors keep.
    public let queryRankRetained: [Double]?
    /// Per module with --query-rank r: P_q ≈ Σ_k u_k v_kᵀ, stored as U [out, Q·r] (columns
    /// u_k σ_k) and V [in, Q·r], so a document needs g U and a V only.
    let lowRank: [(u: [Float], v: [Float])]?
    let capture: GradientCapture
    /// Per query, which completion tokens' loss forms its gradient (`queryTokens`).
    public let queryTokenMasks: [[Bool]]
    public let queryTokens: QueryTokenSelection

    /// `damping`: λ for every module; nil → 0.1 × mean(Λ) per module. `identity`: no
    /// preconditioning (plain gradient dot products).
    /// `queryTokens` chooses the completion tokens whose loss forms each query's gradient.
    public init(model: TransformerModel, tokenizer: Tokenizer, factors: EKFACFactors, queries: [Query],
                damping: Double? = nil, identity: Bool = false, queryRank: Int? = nil, maxLength: Int,
                queryTokens: QueryTokenSelection = .all) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.factors = factors
        self.queries = queries
        self.maxLength = maxLength
        capture = GradientCapture(model: model, modules: factors.modules.map(\.module))
        dampings = factors.modules.map { damping ?? $0.heuristicDamping }
        if let r = queryRank, r < 1 { throw WorkbenchError("--query-rank must be at least 1") }
        // Full rank: per module the preconditioned gradients of all queries, stacked. With
        // --query-rank: each query's block is compressed as soon as it is preconditioned, so
        // memory holds one full-rank query at a time (a SmolLM2 query is 318 MB at full rank).
        var stacks = factors.modules.map { _ in [Float]() }
        var compressed = factors.modules.map { _ in [(u: [Float], v: [Float])]() }
        var nll: [Double] = [], masks: [[Bool]] = [], retainedShare: [Double] = []
        for q in queries {
            let (tokens, promptCount) = q.tokens(tokenizer)
            guard promptCount >= 1, tokens.count > promptCount else {
                throw WorkbenchError("query \(q.id): needs a non-empty prompt and completion")
            }
            let mask = try queryTokens.mask(q, completion: Array(tokens[promptCount...]), tokenizer: tokenizer)
            guard mask.contains(true) else { throw WorkbenchError("query \(q.id): --query-tokens \(queryTokens.name) selects none of its completion tokens") }
            masks.append(mask)
            // The gradient of the selected completion tokens' summed cross-entropy: ∇(−log p(c | p)).
            // The document side uses the same sign, so the score is ∇log p(c)ᵀ H⁻¹ ∇log p(z).
            // Completion token j is predicted at position promptCount − 1 + j.
            let positions = [Bool](repeating: false, count: promptCount - 1) + mask + [false]
            let (loss, activity) = try capture.run(tokens: tokens, labelFrom: promptCount - 1, labelMask: positions)
            nll.append(loss)
            var kept = 0.0, total = 0.0
            for (i, f) in factors.modules.enumerated() {
                let act = activity[f.module.id]!
                if let r = queryRank {
                    // Seeded by the query's position in the list and the module: the same query file
                    // gives the same factors (a reordered or partial one gives other sketches).
                    let seed = UInt64(truncatingIfNeeded: (nll.count - 1) &* 1_000_003 &+ i)
                    let (u, v, retained) = identity
                        ? try lowRankFactors(weightGradient(act, f.module), rows: f.module.outputDimension, columns: f.module.inputDimension, rank: r, seed: seed)
                        : try f.lowRankPrecondition(act, damping: dampings[i], rank: r, seed: seed)
                    compressed[i].append((u, v))
                    kept += retained.kept; total += retained.total
                } else {
                    let G = weightGradient(act, f.module)
                    stacks[i] += identity ? G : f.precondition(G, damping: dampings[i])
                }
            }
            if queryRank != nil { retainedShare.append(total > 0 ? kept / total : 1) }
        }
        queryRankRetained = queryRank == nil ? nil : retainedShare
        queryNLL = nll
        queryTokenMasks = masks
        self.queryTokens = queryTokens
        if let r = queryRank {
            lowRank = zip(factors.modules, compressed).map { f, parts in
                Self.interleave(parts, rows: f.module.outputDimension, columns: f.module.inputDimension,
                                rank: min(r, f.module.outputDimension, f.module.inputDimension))
            }
            preconditioned = factors.modules.map { _ in [] }
        } else {
            lowRank = nil
            preconditioned = stacks
        }
    }

    /// The queries' factors side by side: U [rows, Q·r] with query q in columns q·r ..< (q+1)·r, V likewise.
    static func interleave(_ parts: [(u: [Float], v: [Float])], rows o: Int, columns n: Int, rank r: Int) -> (u: [Float], v: [Float]) {
        let Q = parts.count
        var U = [Float](repeating: 0, count: o * Q * r), V = [Float](repeating: 0, count: n * Q * r)
        for (q, part) in parts.enumerated() {
            for i in 0..<o { for k in 0..<r { U[i * Q * r + q * r + k] = part.u[i * r + k] } }
            for j in 0..<n { for k in 0..<r { V[j * Q * r + q * r + k] = part.v[j * r + k] } }
        }
        return (U, V)
    }

    public var moduleCount: Int { factors.modules.count }

    /// Raw scores of one document against every query.
    public func score(_ document: Document, perModule: Bool = false, perToken: Bool = false) throws -> DocumentScores {
        try score([document], perModule: perModule, perToken: perToken)[0]
    }

    /// Raw scores of several documents. With full-rank queries their gradients go through
    /// one GEMM per module, [Q, out·in] × [out·in, B], so the stacked query gradients are read
    /// once per batch rather than once per document. A document's numbers depend on the batch
    /// it is in only through the GEMM's blocking; `ScoreRun` keeps batches fixed.
    public func score(_ documents: [Document], perModule: Bool = false, perToken: Bool = false) throws -> [DocumentScores] {
        // Rank-r queries need no batch GEMM: each document is captured, scored and dropped
        // before the next, so memory holds one document's activations (195 MB for 256 tokens
        // over SmolLM2's 90 MLP modules) rather than a batch's. The numbers are the same.
        if lowRank != nil && documents.count > 1 {
            return try documents.flatMap { try score([$0], perModule: perModule, perToken: perToken) }
        }
        let Q = queries.count, M = moduleCount
        var results: [DocumentScores] = []
        var activities: [[LinearID: ModuleActivity]?] = []
        for document in documents {
            let ids = Array(tokenizer.encode(document.text).prefix(maxLength))
            results.append(DocumentScores(index: document.index, total: [Float](repeating: 0, count: Q),
                                          perModule: perModule ? [[Float]](repeating: [Float](repeating: 0, count: Q), count: M) : nil,
                                          perToken: perToken ? [[Float]](repeating: [Float](repeating: 0, count: ids.count), count: Q) : nil,
                                          tokenCount: ids.count))
            activities.append(ids.count >= 2 ? try capture.run(tokens: ids).activity : nil)
        }
        let live = activities.indices.filter { activities[$0] != nil }
        for (i, f) in factors.modules.enumerated() {
            let m = f.module
            var moduleScores = [[Float]](repeating: [Float](repeating: 0, count: Q), count: documents.count)
            if let lowRank {
                // Σ_t Σ_k (g_tᵀ u_k)(v_kᵀ a_t): the document's gradient is never formed.
                for d in live {
                    let act = activities[d]![m.id]!
                    let shares = lowRankShares(act, module: m, factors: lowRank[i])
                    for q in 0..<Q { for t in 0..<act.rows { moduleScores[d][q] += shares[t * Q + q] } }
                    if perToken { for q in 0..<Q { for t in 0..<act.rows { results[d].perToken![q][t] += shares[t * Q + q] } } }
                }
            } else if !live.isEmpty {
                let P = m.parameterCount, B = live.count
                var stacked = [Float](repeating: 0, count: B * P)
                for (column, d) in live.enumerated() {
                    stacked.withUnsafeMutableBufferPointer { weightGradient(activities[d]![m.id]!, m, into: $0.baseAddress! + column * P) }
                    if perToken { addTokenShares(activities[d]![m.id]!, module: i, into: &results[d].perToken!) }
                }
                // S[q, b] = ⟨P_q, G_b⟩, the query rows split across the workers.
                var product = [Float](repeating: 0, count: Q * B)
                preconditioned[i].withUnsafeBufferPointer { a in
                    stacked.withUnsafeBufferPointer { g in
                        product.withUnsafeMutableBufferPointer { c in
                            let (ap, gp, cp) = (a.baseAddress!, g.baseAddress!, c.baseAddress!)
                            Parallel.forEachChunk(Q, costPerItem: P * B) { rows in
                                sgemm(transB: true, m: rows.count, n: B, k: P, a: ap + rows.lowerBound * P, lda: P,
                                      b: gp, ldb: P, c: cp + rows.lowerBound * B, ldc: B)
                            }
                        }
                    }
                }
                for (column, d) in live.enumerated() { for q in 0..<Q { moduleScores[d][q] = product[q * B + column] } }
            }
            for d in documents.indices {
                for q in 0..<Q { results[d].total[q] += moduleScores[d][q] }
                results[d].perModule?[i] = moduleScores[d]
            }
        }
        return results
    }

    /// Per token and query, Σ_k (g_tᵀ u_k)(v_kᵀ a_t): [T, Q].
    func lowRankShares(_ act: ModuleActivity, module m: TrackedModule, factors: (u: [Float], v: [Float])) -> [Float] {
        let (n, o, T, Q) = (m.inputDimension, m.outputDimension, act.rows, queries.count)
        let width = factors.u.count / o, r = width / Q
        var gu = [Float](repeating: 0, count: T * width), av = [Float](repeating: 0, count: T * width)
        sgemm(m: T, n: width, k: o, a: act.g, lda: o, b: factors.u, ldb: width, c: &gu, ldc: width)
        sgemm(m: T, n: width, k: n, a: act.a, lda: n, b: factors.v, ldb: width, c: &av, ldc: width)
        var shares = [Float](repeating: 0, count: T * Q)
        for t in 0..<T {
            for q in 0..<Q {
                var s: Float = 0
                for k in 0..<r { s += gu[t * width + q * r + k] * av[t * width + q * r + k] }
                shares[t * Q + q] = s
            }
        }
        return shares
    }

    /// Token t's share for query q: g_tᵀ P_q a_t, from Y = a Pᵀ ([T, Q·out]).
    func addTokenShares(_ act: ModuleActivity, module i: Int, into shares: inout [[Float]]) {
        let m = factors.modules[i].module
        let (n, o, T, Q) = (m.inputDimension, m.outputDimension, act.rows, queries.count)
        var y = [Float](repeating: 0, count: T * Q * o)
        sgemm(transB: true, m: T, n: Q * o, k: n, a: act.a, lda: n, b: preconditioned[i], ldb: n, c: &y, ldc: Q * o)
        for q in 0..<Q {
            for t in 0..<T {
                var dot: Float = 0
                for j in 0..<o { dot += act.g[t * o + j] * y[t * Q * o + q * o + j] }
                shares[q][t] += dot
            }
        }
    }

    /// Self-influence ∇log p(z)ᵀ (G + λI)⁻¹ ∇log p(z) of one document.
    public static func selfInfluence(_ document: Document, capture: GradientCapture, factors: EKFACFactors,
                                     dampings: [Double], tokenizer: Tokenizer, maxLength: Int) throws -> Float {
        let ids = Array(tokenizer.encode(document.text).prefix(maxLength))
        guard ids.count >= 2 else { return 0 }
        let (_, activity) = try capture.run(tokens: ids)
        var total: Double = 0
        for (i, f) in factors.modules.enumerated() {
            let G = weightGradient(activity[f.module.id]!, f.module)
            let P = f.precondition(G, damping: dampings[i])
            for j in 0..<G.count { total += Double(G[j]) * Double(P[j]) }
        }
        return Float(total)
    }
}

