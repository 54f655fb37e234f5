import Foundation

/// What the backward pass computes besides passing gradients down.
public struct BackwardOptions {
    /// Weight gradients are added here when set (pretraining, full fine-tuning): buffers
    /// shaped like the weights (`ModelWeights.zerosLike()`).
    public var weightGradients: ModelWeights?
    /// Called with dL/dh_r for every residual index r in 0...L (r = 0: embedding
    /// output). A steering vector s_r added at every row has gradient Σ_rows dL/dh_r.
    public var residualGradientReader: ((Int, ActivationView) -> Void)?
    /// Called for every linear layer with its input a and its output gradient g,
    /// per row ([rows, in] and [rows, out]): EK-FAC's raw material.
    public var linearGradientTap: ((LinearID, ActivationView, ActivationView) -> Void)?

    public init(weightGradients: ModelWeights? = nil) { self.weightGradients = weightGradients }
}

extension TransformerModel {
    /// Backpropagates `logitGradient` (dL/dlogits, [rows, V] as the forward pass's
    /// `.all` logits) through the recorded forward pass. `hooks` must be the hooks of
    /// that forward pass: adapters pass gradients to their input and accumulate their
    /// parameters' gradients, and each residual intervention rewrites dh on its rows
    /// (dh ← Jᵀ dh) and accumulates its own, last-applied first.
    ///
    /// With `logitRows` (the forward pass's `.rows` selection), `logitGradient` is
    /// [logitRows.count, V] for those rows; every other row's logits had no gradient.
    public func backward(_ record: ForwardRecord, logitGradient: Tensor, logitRows: [Int]? = nil,
                         hooks: ForwardHooks = ForwardHooks(), options: BackwardOptions = BackwardOptions()) throws {
        let c = config
        let layout = record.layout!
        let rows = layout.rows, d = c.hiddenSize, V = c.vocabSize
        precondition(logitGradient.count == (logitRows?.count ?? rows) * V,
                     "logit gradient has \(logitGradient.count) values, expected \(logitRows?.count ?? rows) × \(V)")
        let grads = options.weightGradients
        let view = { (p: UnsafePointer<Float>, width: Int) in ActivationView(pointer: p, rows: rows, width: width, layout: layout) }

        // Final norm and unembedding.
        let dh = Tensor(zeros: [rows, d])
        if let logitRows {
            let x = Tensor(zeros: [logitRows.count, d]), dx = Tensor(zeros: [logitRows.count, d])
            for (i, r) in logitRows.enumerated() { (x.mutableData + i * d).update(from: record.finalResidual!.data + r * d, count: d) }
            unembedBackward(x.data, rows: logitRows.count, logitGradient: logitGradient.data, inputGradient: dx.mutableData,
                            weightGradients: grads)
            // A row may be listed more than once (a shared prefix's last row predicts the first
            // token of every branch): its gradients add.
            for (i, r) in logitRows.enumerated() {
                let row = dh.mutableData + r * d, g = dx.data + i * d
                for j in 0..<d { row[j] += g[j] }
            }
        } else {
            unembedBackward(record.finalResidual!.data, rows: rows, logitGradient: logitGradient.data,
                            inputGradient: dh.mutableData, weightGradients: grads)
        }
        func residualGradient(_ index: Int) throws {
            options.residualGradientReader?(index, view(dh.data, d))
            guard let interventions = hooks.residualInterventions[index] else { return }
            let inputs = record.interventionInputs[index] ?? []
            guard inputs.count == interventions.count else {
                throw WorkbenchError("backward's hooks differ from the recorded forward pass's at residual \(index)")
            }
            for (intervention, x) in zip(interventions, inputs).reversed() {
                let selected = SelectedRows(indices: intervention.selection.rows(in: layout), layout: layout)
                if selected.count == 0 { continue }
                let dy = Tensor(zeros: [selected.count, d]), dx = Tensor(zeros: [selected.count, d])
                for (i, r) in selected.indices.enumerated() { (dy.mutableData + i * d).update(from: dh.data + r * d, count: d) }
                try intervention.backward(x.data, outputGradient: dy.data, inputGradient: dx.mutableData, rows: selected, width: d)
                for (i, r) in selected.indices.enumerated() { (dh.mutableData + r * d).update(from: dx.data + i * d, count: d) }
            }
        }
        try residualGradient(c.layerCount)

        for l in stride(from: c.layerCount - 1, through: lowestBlockNeeded(hooks: hooks, options: options), by: -1) {
            let layer = record.layers[l] ?? recomputeBlock(l, record: record, hooks: hooks)
            blockBackward(layer: l, record: layer, cache: record.cache, layout: layout, dh: dh.mutableData,
                          hooks: hooks, options: options)
            try residualGradient(l)
        }

        if let grads {
            let dE = grads.embedding.mutableData
            for r in 0..<rows where layout.isReal[r] {
                let row = dE + record.batch.tokens[r] * d
                for i in 0..<d { row[i] += dh.data[r * d + i] }
            }
        }
    }

    /// The lowest block the backward pass must go through. Block l turns dL/dh_{l+1} into
    /// dL/dh_l and its adapters' gradients; below the lowest residual intervention and the
    /// lowest adapted layer nothing asks for either (steering vectors after every block need
    /// no backward through block 0), unless weight gradients, a residual reader or a linear
    /// tap want every block. Returns layerCount when nothing needs any block.
    func lowestBlockNeeded(hooks: ForwardHooks, options: BackwardOptions) -> Int {
        if options.weightGradients != nil || options.residualGradientReader != nil || options.linearGradientTap != nil { return 0 }
        let intervened = hooks.residualInterventions.filter { !$0.value.isEmpty }.keys
        let adapted = hooks.weightDeltas.filter { !$0.value.isEmpty }.keys.map(\.layer)
        return (Array(intervened) + adapted).min() ?? config.layerCount
    }

    /// Runs block `l` again from its saved input, keeping everything backward needs.
    /// Only the adapters of `hooks` take part: taps and readers already saw this block.
    func recomputeBlock(_ l: Int, record: ForwardRecord, hooks: ForwardHooks) -> LayerRecord {
        let layout = record.layout!
        let input = record.blockInputs[l]
        let full = LayerRecord(config: config, layout: layout, residualIn: input)
        let h = input.copy()
        blockForward(layer: l, h: h.mutableData, scratch: full, layout: layout, cache: record.cache, cacheStart: 0,
                     hooks: hooks.adaptersOnly)
        return full
    }

    /// Backward through one linear layer y = x Wᵀ + b (+ Σ s x ΔWᵀ): dx (+)= g W (+ Σ s g ΔW),
    /// dW += gᵀ x, db += Σ_rows g; taps see (x, g).
    func linearBackward(_ id: LinearID, input x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>,
                        inputGradient dx: UnsafeMutablePointer<Float>, accumulate: Bool, layout: RowLayout,
                        hooks: ForwardHooks, options: BackwardOptions) {
        let lw = weights.blocks[id.layer].linear(id.site)
        let (rows, inF, outF) = (layout.rows, lw.inFeatures, lw.outFeatures)
        options.linearGradientTap?(id, ActivationView(pointer: x, rows: rows, width: inF, layout: layout),
                                   ActivationView(pointer: g, rows: rows, width: outF, layout: layout))
        sgemmParallel(m: rows, n: inF, k: outF, a: g, lda: outF, b: lw.weight.data, ldb: inF,
                      beta: accumulate ? 1 : 0, c: dx, ldc: inF)
        for scaled in hooks.weightDeltas[id] ?? [] {
            scaled.delta.addInputGradient(outputGradient: g, rows: rows, outFeatures: outF, inputGradient: dx,
                                          inFeatures: inF, scale: scaled.scale)
            scaled.delta.accumulateGradients(input: x, outputGradient: g, rows: rows, inFeatures: inF, outFeatures: outF,
                                             scale: scaled.scale)
        }
        if let grads = options.weightGradients?.blocks[id.layer].linear(id.site) {
            sgemmParallel(transA: true, m: outF, n: inF, k: rows, a: g, lda: outF, b: x, ldb: inF,
                          beta: 1, c: grads.weight.mutableData, ldc: inF)
            if let db = grads.bias?.mutableData {
                for r in 0..<rows { for j in 0..<outF { db[j] += g[r * outF + j] } }
            }
        }
    }

    /// dh holds dL/d(block output) on entry and dL/d(block input) on return.
    func blockBackward(layer l: Int, record rec: LayerRecord, cache: KVCache, layout: RowLayout,
                       dh: UnsafeMutablePointer<Float>, hooks: ForwardHooks, options: BackwardOptions) {
        let c = config, w = weights.blocks[l]
        let rows = layout.rows, d = c.hiddenSize, I = c.intermediateSize
        let grads = options.weightGradients?.blocks[l]
        func id(_ s: LinearSite) -> LinearID { LinearID(layer: l, site: s) }

        // MLP half: h_out = h_mid + down(silu(gate) ⊙ up).
        let dAct = Tensor(uninitialized: [rows, I])
        linearBackward(id(.down), input: rec.activation.data, outputGradient: dh, inputGradient: dAct.mutableData,
                       accumulate: false, layout: layout, hooks: hooks, options: options)
        let dGate = Tensor(uninitialized: [rows, I]), dUp = Tensor(uninitialized: [rows, I])
        Ops.swigluBackward(gate: rec.gate.data, up: rec.up.data, outputGradient: dAct.data,
                           gateGradient: dGate.mutableData, upGradient: dUp.mutableData, count: rows * I)
        let dNormed2 = Tensor(uninitialized: [rows, d])
        linearBackward(id(.gate), input: rec.normed2.data, outputGradient: dGate.data, inputGradient: dNormed2.mutableData,
                       accumulate: false, layout: layout, hooks: hooks, options: options)
        linearBackward(id(.up), input: rec.normed2.data, outputGradient: dUp.data, inputGradient: dNormed2.mutableData,
                       accumulate: true, layout: layout, hooks: hooks, options: options)
        // h_mid feeds both the residual and the second norm.
        Ops.rmsNormBackward(rec.residualMid.data, weight: w.postAttentionNorm.data, outputGradient: dNormed2.data,
                            rows: rows, width: d, eps: c.rmsNormEps, inputGradient: dh, accumulate: true,
                            weightGradient: grads?.postAttentionNorm.mutableData)

        // Attention half: h_mid = h_in + o(attn).
        let dAttn = Tensor(uninitialized: [rows, c.queryWidth])
        linearBackward(id(.o), input: rec.attn.data, outputGradient: dh, inputGradient: dAttn.mutableData,
                       accumulate: false, layout: layout, hooks: hooks, options: options)
        let dQ = Tensor(uninitialized: [rows, c.queryWidth]), dK = Tensor(uninitialized: [rows, c.kvWidth]), dV = Tensor(uninitialized: [rows, c.kvWidth])
        Attention.backward(config: c, layer: l, q: rec.q.data, probabilities: rec.probabilities.data, cache: cache,
                           layout: layout, outputGradient: dAttn.data, dq: dQ.mutableData, dk: dK.mutableData, dv: dV.mutableData)
        // Gradients were taken after RoPE: rotate back.
        Ops.applyRoPE(dQ.mutableData, rows: rows, heads: c.headCount, headDim: c.headDim, positions: layout.positions,
                      invFreq: inverseFrequencies, inverse: true)
        Ops.applyRoPE(dK.mutableData, rows: rows, heads: c.kvHeadCount, headDim: c.headDim, positions: layout.positions,
                      invFreq: inverseFrequencies, inverse: true)
        let dNormed1 = Tensor(uninitialized: [rows, d])
        linearBackward(id(.q), input: rec.normed.data, outputGradient: dQ.data, inputGradient: dNormed1.mutableData,
                       accumulate: false, layout: layout, hooks: hooks, options: options)
        linearBackward(id(.k), input: rec.normed.data, outputGradient: dK.data, inputGradient: dNormed1.mutableData,
                       accumulate: true, layout: layout, hooks: hooks, options: options)
        linearBackward(id(.v), input: rec.normed.data, outputGradient: dV.data, inputGradient: dNormed1.mutableData,
                       accumulate: true, layout: layout, hooks: hooks, options: options)
        Ops.rmsNormBackward(rec.residualIn.data, weight: w.inputNorm.data, outputGradient: dNormed1.data,
                            rows: rows, width: d, eps: c.rmsNormEps, inputGradient: dh, accumulate: true,
                            weightGradient: grads?.inputNorm.mutableData)
    }
}
