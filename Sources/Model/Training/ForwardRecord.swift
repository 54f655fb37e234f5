import Foundation

/// The activations of one block kept for the backward pass.
final class LayerRecord: BlockScratch {
    /// h entering the block, [rows, d].
    let residualIn: Tensor
    /// h after the attention half, [rows, d].
    let residualMid: Tensor
    /// RMSNorm(h_mid) ⊙ γ, [rows, d] (the first norm's output is `normed`).
    let normed2: Tensor
    /// silu(gate) ⊙ up, [rows, I] (`gate` keeps the pre-activation).
    let activation: Tensor
    /// Attention probabilities [B, H, T, T].
    let probabilities: Tensor

    init(config c: ModelConfig, rows: Int, batchSize: Int, length: Int, residualIn h: Tensor) {
        residualIn = Tensor(shape: [rows, c.hiddenSize], values: Array(h.storage.buffer))
        residualMid = Tensor(zeros: [rows, c.hiddenSize])
        normed2 = Tensor(zeros: [rows, c.hiddenSize])
        activation = Tensor(zeros: [rows, c.intermediateSize])
        probabilities = Tensor(zeros: [batchSize, c.headCount, length, length])
        super.init(config: c, rows: rows)
    }

    override var recorded: LayerRecord? { self }
}

/// Everything a forward pass keeps so that `backward` can run: pass one to
/// `forward(_:record:)`, then hand it to `backward`. Memory is about
/// rows × (6d + 3I + q/k/v widths) + B·H·T² floats per layer.
public final class ForwardRecord {
    var layers: [LayerRecord] = []
    var layout: RowLayout!
    var batch: TokenBatch!
    var cache: KVCache!
    /// h_L, [rows, d].
    var finalResidual: Tensor!

    public init() {}

    func begin(batch: TokenBatch, layout: RowLayout, cache: KVCache) {
        layers = []
        self.batch = batch
        self.layout = layout
        self.cache = cache
    }

    func newLayer(config: ModelConfig, rows: Int, residualIn: Tensor) -> LayerRecord {
        let r = LayerRecord(config: config, rows: rows, batchSize: layout.batchSize, length: layout.length, residualIn: residualIn)
        layers.append(r)
        return r
    }
}
