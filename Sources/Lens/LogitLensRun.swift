import Foundation
import Model

/// The logit lens over one prompt: at every site and position, the final norm is
/// applied to the residual (once) and the result projected by W_U. Only summaries
/// are kept per cell (top-k, entropy, KL to the final layer, the target's
/// numbers); the [sites, T, V] distributions are never held at once.
public struct LogitLensResult: Sendable {
    public var tokens: [Int]
    public var sites: [LensSite]
    /// [site][position][k]
    public var topIDs: [[[Int]]]
    public var topProbabilities: [[[Float]]]
    /// [site][position], nats
    public var entropy: [[Float]]
    /// KL(final ‖ site) in nats, [site][position]; final = h_L through the model's own head.
    public var klToFinal: [[Float]]
    /// Probability, under each cell's distribution, of the final layer's top token at that position.
    public var finalTopProbability: [[Float]]
    /// With a target token: its probability, log-probability and rank (0 = top), [site][position].
    public var targetProbability: [[Float]]?
    public var targetLogProbability: [[Float]]?
    public var targetRank: [[Int]]?
    /// Wall-clock seconds of the forward pass and of the lens projections.
    public var forwardSeconds: Double = 0
    public var lensSeconds: Double = 0

    public var siteCount: Int { sites.count }
}

public struct LogitLensOptions: Sendable {
    public var k: Int = 5
    public var target: Int?
    public var siteKinds: Set<LensSite.Kind> = [.post]
    /// Residual rows projected by one GEMM (all sites of a few positions at once).
    public var rowsPerProjection = 256

    public init(k: Int = 5, target: Int? = nil, siteKinds: Set<LensSite.Kind> = [.post]) {
        self.k = k; self.target = target; self.siteKinds = siteKinds
    }
}

public enum LogitLensRun {
    /// Runs the lens; with `tunedLens`, each residual h_r (r < L) is first mapped by
    /// its translator (tuned lens), and sites inside blocks are refused.
    public static func run(model: TransformerModel, tokens: [Int], options: LogitLensOptions,
                           tunedLens: TunedLens? = nil, hooks: ForwardHooks = ForwardHooks()) throws -> LogitLensResult {
        try run(model: model, tokens: tokens, options: options, lenses: [tunedLens], hooks: hooks)[0]
    }

    /// One forward pass read through several lenses (nil = the logit lens), one result each.
    static func run(model: TransformerModel, tokens: [Int], options: LogitLensOptions,
                    lenses: [TunedLens?], hooks: ForwardHooks = ForwardHooks()) throws -> [LogitLensResult] {
        let c = model.config
        let (L, T) = (c.layerCount, tokens.count)
        guard options.k >= 1 && options.k <= c.vocabSize else { throw WorkbenchError("top-k must be in 1...\(c.vocabSize), got \(options.k)") }
        let sites = LensSite.list(kinds: options.siteKinds, layerCount: L)
        if lenses.contains(where: { $0 != nil }), sites.contains(where: { $0.residualIndex == nil }) {
            throw WorkbenchError("the tuned lens has translators for block outputs only; drop 'mid' from --sites")
        }
        let clock = ContinuousClock()
        let forwardStart = clock.now
        // Capture h_0 ... h_L (h_L is needed for KL) and the mid-block residuals if asked.
        var residuals = [Tensor?](repeating: nil, count: L + 1), mids = [Tensor?](repeating: nil, count: L)
        var capture = hooks
        let outerReader = hooks.residualReader, outerMid = hooks.midResidualReader
        capture.residualReader = { r, view in outerReader?(r, view); residuals[r] = view.tensor() }
        if options.siteKinds.contains(.mid) {
            capture.midResidualReader = { l, view in outerMid?(l, view); mids[l] = view.tensor() }
        }
        _ = try model.forward(TokenBatch(tokens), hooks: capture, logits: .none)
        let forwardSeconds = (clock.now - forwardStart).seconds

        // The default site list ends with h_L itself: its rows then serve as the final ones.
        let finalIsLastSite = sites.last == .post(L - 1)
        return try lenses.map { tunedLens in
            let lensStart = clock.now
            // Row source per site ([T, d] each), translated when a tuned lens is given; the final
            // residual h_L goes last, untranslated: the model's own next-token distribution.
            var sources: [Tensor] = try sites.map { site in
                if let r = site.residualIndex {
                    let h = residuals[r]!
                    if let tunedLens, r < L { return try tunedLens.translate(h, residualIndex: r) }
                    return h
                }
                guard case .mid(let l) = site else { preconditionFailure() }
                return mids[l]!
            }
            if !finalIsLastSite { sources.append(residuals[L]!) }
            var result = try project(model: model, sources: sources, finalIsLastSite: finalIsLastSite, tokenCount: T, options: options)
            result.tokens = tokens
            result.sites = sites
            result.forwardSeconds = forwardSeconds
            result.lensSeconds = (clock.now - lensStart).seconds
            return result
        }
    }


    /// Per-cell statistics for every site; the last source is the final residual h_L, and a
    /// site of its own too when `finalIsLastSite`.
    /// Rows of a few positions for all sites go through one GEMM (RMSNorm_final then W_U);
    /// each row is then summarised where it lies (methods.md: logit lens).
    static func project(model: TransformerModel, sources: [Tensor], finalIsLastSite: Bool, tokenCount T: Int,
                        options: LogitLensOptions) throws -> LogitLensResult {
        let d = model.config.hiddenSize, V = model.config.vocabSize, k = options.k
        let perPosition = sources.count, S = finalIsLastSite ? perPosition : perPosition - 1, finalSite = perPosition - 1
        let positionsPerChunk = max(1, options.rowsPerProjection / perPosition)
        var topIDs = [[[Int]]](repeating: [[Int]](repeating: [], count: T), count: S)
        var topProbs = [[[Float]]](repeating: [[Float]](repeating: [], count: T), count: S)
        var entropy = [[Float]](repeating: [Float](repeating: 0, count: T), count: S)
        var kl = entropy, targetProb = entropy, targetLogProb = entropy, finalTopProb = entropy
        var targetRank = [[Int]](repeating: [Int](repeating: 0, count: T), count: S)

        let rowsMax = positionsPerChunk * perPosition
        let input = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * d)
        let finalProbs = UnsafeMutablePointer<Float>.allocate(capacity: positionsPerChunk * V)
        defer { input.deallocate(); finalProbs.deallocate() }
        // Per-row outputs of the parallel pass, copied into the nested arrays afterwards.
        let cellIDs = UnsafeMutablePointer<Int32>.allocate(capacity: rowsMax * k)
        let cellValues = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * k)
        let cellStats = UnsafeMutablePointer<TokenDistribution.RowStatistics>.allocate(capacity: rowsMax)
        let cellTarget = UnsafeMutablePointer<Int>.allocate(capacity: rowsMax)
        defer { cellIDs.deallocate(); cellValues.deallocate(); cellStats.deallocate(); cellTarget.deallocate() }

        for t0 in stride(from: 0, to: T, by: positionsPerChunk) {
            let n = min(positionsPerChunk, T - t0), rows = n * perPosition
            // Row (s, j) = site s at position t0 + j, stored at s * n + j.
            for s in 0..<perPosition {
                (input + s * n * d).update(from: sources[s].data + t0 * d, count: n * d)
            }
            let logits = model.unembed(input, rows: rows, shape: [rows, V])
            // The final distribution p_f per position first: every KL needs it.
            var finalNegEntropy = [Double](repeating: 0, count: n), finalTop = [Int](repeating: 0, count: n)
            for j in 0..<n {
                let row = logits.data + (finalSite * n + j) * V
                let st = TokenDistribution.statistics(row, count: V)
                let logZ = st.logNormalizer
                let p = finalProbs + j * V
                for i in 0..<V { p[i] = Float(exp(Double(row[i]) - logZ)) }
                finalNegEntropy[j] = st.negativeEntropy
                var top: Int32 = 0, value: Float = 0
                TokenDistribution.topK(row, count: V, k: 1, ids: &top, values: &value)
                finalTop[j] = Int(top)
            }
            let siteRows = S * n
            Parallel.forEachChunk(siteRows, costPerItem: V * 4) { range in
                for row in range {
                    let j = row % n
                    let x = logits.data + row * V
                    cellStats[row] = TokenDistribution.statistics(x, count: V, target: finalProbs + j * V)
                    TokenDistribution.topK(x, count: V, k: k, ids: cellIDs + row * k, values: cellValues + row * k)
                    if let target = options.target {
                        let xt = x[target]
                        var above = 0
                        for i in 0..<V where x[i] > xt { above += 1 }
                        cellTarget[row] = above
                    }
                }
            }
            for row in 0..<siteRows {
                let s = row / n, t = t0 + row % n
                let st = cellStats[row]
                let logZ = st.logNormalizer
                topIDs[s][t] = (0..<k).map { Int(cellIDs[row * k + $0]) }
                topProbs[s][t] = (0..<k).map { Float(exp(Double(cellValues[row * k + $0]) - logZ)) }
                entropy[s][t] = Float(st.entropy)
                kl[s][t] = Float(max(0, st.kl(targetNegativeEntropy: finalNegEntropy[row % n])))
                finalTopProb[s][t] = Float(exp(Double(logits.data[row * V + finalTop[row % n]]) - logZ))
                if let target = options.target {
                    let lp = Double(logits.data[row * V + target]) - logZ
                    targetLogProb[s][t] = Float(lp)
                    targetProb[s][t] = Float(exp(lp))
                    targetRank[s][t] = cellTarget[row]
                }
            }
        }
        let hasTarget = options.target != nil
        return LogitLensResult(tokens: [], sites: [], topIDs: topIDs, topProbabilities: topProbs, entropy: entropy,
                               klToFinal: kl, finalTopProbability: finalTopProb, targetProbability: hasTarget ? targetProb : nil,
                               targetLogProbability: hasTarget ? targetLogProb : nil,
                               targetRank: hasTarget ? targetRank : nil)
    }
}
