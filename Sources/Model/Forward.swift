import Foundation

/// Which positions get logits.
public enum LogitSelection: Sendable {
    /// [batchSize, length, V]
    case all
    /// [batchSize, V] for the last column (the next-token distribution under left padding).
    case last
    /// [indices.count, V] for these rows of the [batchSize × length] batch, in this order,
    /// a row possibly more than once (training: the rows whose next token carries a loss; the
    /// rest of the unembedding, the largest matrix of a large-vocabulary model, is skipped).
    case rows([Int])
    case none
}

public struct ForwardOutput {
    /// See `LogitSelection`.
    public var logits: Tensor?
    /// When requested: L+1 tensors [batchSize, length, d]; index 0 is the embedding
    /// output, index l+1 the output of block l, all before the final norm.
    public var residuals: [Tensor]
}

extension TransformerModel {
    /// Runs the model on a batch. With `cache`, the batch holds the new tokens only
    /// and attends to everything cached before; without, a cache local to the call
    /// holds the keys and values. Positions count real tokens only, so a
    /// left-padded sequence gets the same results as the unpadded one.
    ///
    /// With `record`, every activation the backward pass needs is kept in it
    /// (training; no cache allowed).
    public func forward(_ batch: TokenBatch, hooks: ForwardHooks = ForwardHooks(), cache: KVCache? = nil,
                        logits selection: LogitSelection = .all, captureResiduals: Bool = false,
                        record: ForwardRecord? = nil) throws -> ForwardOutput {
        let c = config
        let (B, T, d) = (batch.batchSize, batch.length, c.hiddenSize)
        let rows = B * T
        for (i, id) in batch.tokens.enumerated() where batch.isReal[i] && (id < 0 || id >= c.vocabSize) {
            throw WorkbenchError("token id \(id) is outside the vocabulary (0..<\(c.vocabSize))")
        }
        if let cache, cache.batchSize != B {
            throw WorkbenchError("KV cache was made for batch size \(cache.batchSize), got \(B)")
        }
        if record != nil && cache != nil { throw WorkbenchError("a forward pass recorded for backward cannot use a KV cache") }
        if batch.segments != nil && cache != nil { throw WorkbenchError("a shared-prefix batch cannot use a KV cache") }
        let kv = cache ?? KVCache(config: c, batchSize: B, capacity: T)
        let start = kv.length
        var positions = try kv.append(isReal: batch.isReal, count: T)
        if batch.segments != nil { positions = batch.sharedPrefixPositions() }
        if kv.promptLengths == nil || start == 0 {
            kv.promptLengths = batch.promptLengths ?? kv.realTokens
        }
        let layout = RowLayout(batchSize: B, length: T, isReal: batch.isReal, positions: positions,
                               promptLengths: batch.promptLengths ?? kv.promptLengths!, segments: batch.segments)

        // h_0: embedding rows (padding rows embed their pad id; they are never attended to).
        let h = Tensor(zeros: [rows, d])
        for r in 0..<rows {
            let id = batch.isReal[r] ? batch.tokens[r] : 0
            (h.mutableData + r * d).update(from: weights.embedding.row(id), count: d)
        }
        var residuals: [Tensor] = []
        func residualHooks(_ index: Int) throws {
            if let interventions = hooks.residualInterventions[index] {
                try intervene(interventions, on: h.mutableData, layout: layout, record: record, index: index)
            }
            if let reader = hooks.residualReader {
                reader(index, ActivationView(pointer: h.data, rows: rows, width: d, layout: layout))
            }
            if captureResiduals {
                residuals.append(Tensor(shape: [B, T, d], storage: FloatStorage(copying: h.data, count: rows * d)))
            }
        }
        record?.begin(batch: batch, layout: layout, cache: kv)
        try residualHooks(0)

        let scratch = BlockScratch(config: c, rows: rows)
        for l in 0..<c.layerCount {
            let buffers = record.map { $0.newLayer(config: c, rows: rows, residualIn: h, scratch: scratch) } ?? scratch
            blockForward(layer: l, h: h.mutableData, scratch: buffers, layout: layout, cache: kv, cacheStart: start, hooks: hooks)
            try residualHooks(l + 1)
        }
        record?.finalResidual = Tensor(shape: [rows, d], storage: h.storage)   // h is only read from here on

        var logits: Tensor?
        switch selection {
        case .none: break
        case .all: logits = unembed(h.data, rows: rows, shape: [B, T, c.vocabSize])
        case .last:
            let last = Tensor(zeros: [B, d])
            for b in 0..<B { (last.mutableData + b * d).update(from: h.data + (b * T + T - 1) * d, count: d) }
            logits = unembed(last.data, rows: B, shape: [B, c.vocabSize])
        case .rows(let indices):
            let chosen = Tensor(zeros: [indices.count, d])
            for (i, r) in indices.enumerated() {
                precondition(r >= 0 && r < rows, "logit row \(r) outside the batch's \(rows) rows")
                (chosen.mutableData + i * d).update(from: h.data + r * d, count: d)
            }
            logits = unembed(chosen.data, rows: indices.count, shape: [indices.count, c.vocabSize])
        }
        return ForwardOutput(logits: logits, residuals: residuals)
    }

    /// logits = RMSNorm_final(x) · W_Uᵀ for `rows` residual rows.
    public func unembed(_ x: UnsafePointer<Float>, rows: Int, shape: [Int]) -> Tensor {
        let d = config.hiddenSize, V = config.vocabSize
        let normed = Tensor(zeros: [rows, d])
        Ops.rmsNorm(x, weight: weights.finalNorm.data, rows: rows, width: d, eps: config.rmsNormEps, into: normed.mutableData)
        let out = Tensor(zeros: shape)
        linearForward(normed.data, rows: rows, weight: weights.unembedding.data, inFeatures: d, outFeatures: V,
                      bias: nil, into: out.mutableData)
        return out
    }

    /// Backward of `unembed`: from dL/dlogits ([rows, V]) and the residual rows x that went
    /// in, writes dL/dx into `inputGradient` (overwriting it); with `weightGradients`, adds
    /// dL/dW_U = gᵀ RMSNorm(x) and dL/dγ_final there.
    public func unembedBackward(_ x: UnsafePointer<Float>, rows: Int, logitGradient g: UnsafePointer<Float>,
                                inputGradient dx: UnsafeMutablePointer<Float>, weightGradients grads: ModelWeights? = nil) {
        let d = config.hiddenSize, V = config.vocabSize
        let dNormed = Tensor(zeros: [rows, d])
        sgemmParallel(m: rows, n: d, k: V, a: g, lda: V, b: weights.unembedding.data, ldb: d, c: dNormed.mutableData, ldc: d)
        if let grads {
            let normed = Tensor(zeros: [rows, d])
            Ops.rmsNorm(x, weight: weights.finalNorm.data, rows: rows, width: d, eps: config.rmsNormEps, into: normed.mutableData)
            // A tied model's unembedding gradient buffer is the embedding's.
            sgemmParallel(transA: true, m: V, n: d, k: rows, a: g, lda: V, b: normed.data, ldb: d,
                          beta: 1, c: grads.unembedding.mutableData, ldc: d)
        }
        Ops.rmsNormBackward(x, weight: weights.finalNorm.data, outputGradient: dNormed.data, rows: rows, width: d,
                            eps: config.rmsNormEps, inputGradient: dx, accumulate: false,
                            weightGradient: grads?.finalNorm.mutableData)
    }

    /// Applies a site's interventions in order, each to the rows it selects (gathered, edited,
    /// scattered back). A recorded pass keeps each intervention's input rows for backward.
    private func intervene(_ interventions: [any ResidualIntervention], on h: UnsafeMutablePointer<Float>,
                           layout: RowLayout, record: ForwardRecord?, index: Int) throws {
        let d = config.hiddenSize
        for intervention in interventions {
            let rows = SelectedRows(indices: intervention.selection.rows(in: layout), layout: layout)
            let x = Tensor(zeros: [rows.count, d]), y = Tensor(zeros: [rows.count, d])
            for (i, r) in rows.indices.enumerated() { (x.mutableData + i * d).update(from: h + r * d, count: d) }
            if rows.count > 0 { try intervention.forward(x.data, into: y.mutableData, rows: rows, width: d) }
            for (i, r) in rows.indices.enumerated() { (h + r * d).update(from: y.data + i * d, count: d) }
            record?.interventionInputs[index, default: []].append(x)
        }
    }
}

/// Work buffers for one block. A plain forward pass reuses one set for every
/// layer; a recorded one keeps a set per layer (with the extra activations the
/// backward pass needs: the residual entering the block and after attention, the
/// second norm's output, the MLP activation and the attention probabilities). Every
/// buffer is filled by the block before it is read, so none is zeroed first.
class BlockScratch {
    let normed: Tensor, q: Tensor, k: Tensor, v: Tensor, attn: Tensor, gate: Tensor, up: Tensor
    init(config c: ModelConfig, rows: Int) {
        normed = Tensor(uninitialized: [rows, c.hiddenSize])
        q = Tensor(uninitialized: [rows, c.queryWidth])
        k = Tensor(uninitialized: [rows, c.kvWidth])
        v = Tensor(uninitialized: [rows, c.kvWidth])
        attn = Tensor(uninitialized: [rows, c.queryWidth])
        gate = Tensor(uninitialized: [rows, c.intermediateSize])
        up = Tensor(uninitialized: [rows, c.intermediateSize])
    }
    /// Set in recorded layers only.
    var recorded: LayerRecord? { nil }
}

extension TransformerModel {
    /// One linear layer with its hook points: the tap sees the input, each adapter's
    /// s ΔW adds s x ΔWᵀ to the output.
    func runLinear(_ id: LinearID, input: UnsafePointer<Float>, layout: RowLayout,
                   output: UnsafeMutablePointer<Float>, hooks: ForwardHooks, accumulate: Bool = false) {
        let lw = weights.blocks[id.layer].linear(id.site)
        let rows = layout.rows
        if let tap = hooks.linearTap {
            tap(id, ActivationView(pointer: input, rows: rows, width: lw.inFeatures, layout: layout))
        }
        linearForward(input, rows: rows, weight: lw.weight.data, inFeatures: lw.inFeatures,
                      outFeatures: lw.outFeatures, bias: lw.bias?.data, into: output, accumulate: accumulate)
        for scaled in hooks.weightDeltas[id] ?? [] {
            scaled.delta.addContribution(input: input, rows: rows, inFeatures: lw.inFeatures,
                                         output: output, outFeatures: lw.outFeatures, scale: scaled.scale)
        }
    }

    /// h ← h + Attn(RMSNorm(h)); h ← h + MLP(RMSNorm(h)) for block `l`.
    func blockForward(layer l: Int, h: UnsafeMutablePointer<Float>, scratch s: BlockScratch, layout: RowLayout,
                      cache: KVCache, cacheStart: Int, hooks: ForwardHooks) {
        let c = config, w = weights.blocks[l]
        let rows = layout.rows, d = c.hiddenSize
        Ops.rmsNorm(h, weight: w.inputNorm.data, rows: rows, width: d, eps: c.rmsNormEps, into: s.normed.mutableData)
        runLinear(LinearID(layer: l, site: .q), input: s.normed.data, layout: layout, output: s.q.mutableData, hooks: hooks)
        runLinear(LinearID(layer: l, site: .k), input: s.normed.data, layout: layout, output: s.k.mutableData, hooks: hooks)
        runLinear(LinearID(layer: l, site: .v), input: s.normed.data, layout: layout, output: s.v.mutableData, hooks: hooks)
        Ops.applyRoPE(s.q.mutableData, rows: rows, heads: c.headCount, headDim: c.headDim,
                      positions: layout.positions, invFreq: inverseFrequencies)
        Ops.applyRoPE(s.k.mutableData, rows: rows, heads: c.kvHeadCount, headDim: c.headDim,
                      positions: layout.positions, invFreq: inverseFrequencies)
        let rec = s.recorded
        Attention.forward(config: c, layer: l, q: s.q.data, k: s.k.data, v: s.v.data, layout: layout,
                          cache: cache, cacheStart: cacheStart, into: s.attn.mutableData,
                          probabilities: rec?.probabilities.mutableData)
        // h += attn · W_oᵀ (+ b_o), accumulated straight into the residual.
        runLinear(LinearID(layer: l, site: .o), input: s.attn.data, layout: layout, output: h, hooks: hooks, accumulate: true)
        rec?.residualMid.mutableData.update(from: h, count: rows * d)
        hooks.midResidualReader?(l, ActivationView(pointer: h, rows: rows, width: d, layout: layout))

        let normed2 = rec?.normed2 ?? s.normed
        Ops.rmsNorm(h, weight: w.postAttentionNorm.data, rows: rows, width: d, eps: c.rmsNormEps, into: normed2.mutableData)
        runLinear(LinearID(layer: l, site: .gate), input: normed2.data, layout: layout, output: s.gate.mutableData, hooks: hooks)
        runLinear(LinearID(layer: l, site: .up), input: normed2.data, layout: layout, output: s.up.mutableData, hooks: hooks)
        // The activation silu(gate) ⊙ up replaces gate, unless gate must be kept for backward.
        let activation = rec?.activation ?? s.gate
        if let rec { rec.activation.mutableData.update(from: s.gate.data, count: rows * c.intermediateSize) }
        Ops.swiglu(gate: activation.mutableData, up: s.up.data, count: rows * c.intermediateSize)
        runLinear(LinearID(layer: l, site: .down), input: activation.data, layout: layout, output: h, hooks: hooks, accumulate: true)
    }
}
