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
    /// Attention probabilities, zero where a query cannot see (attention's backward relies on
    /// it; the other buffers are filled before they are read): [B, H, T, T], or for a
    /// shared-prefix layout each run's rows over the slots it sees (`Attention.BranchRuns`).
    let probabilities: Tensor

    init(config c: ModelConfig, layout: RowLayout, residualIn h: Tensor) {
        let rows = layout.rows
        residualIn = h
        residualMid = Tensor(uninitialized: [rows, c.hiddenSize])
        normed2 = Tensor(uninitialized: [rows, c.hiddenSize])
        activation = Tensor(uninitialized: [rows, c.intermediateSize])
        probabilities = layout.branchRuns.map { Tensor(zeros: [$0.probabilityCount(heads: c.headCount)]) }
            ?? Tensor(zeros: [layout.batchSize, c.headCount, layout.length, layout.length])
        super.init(config: c, rows: rows)
    }

    override var recorded: LayerRecord? { self }
}

/// Everything a forward pass keeps so that `backward` can run: pass one to
/// `forward(_:record:)`, then hand it to `backward`. Memory is about
/// rows × (6d + 3I + q/k/v widths) + B·H·T² floats per layer (for a shared-prefix batch,
/// H × Σ over runs of rows × visible slots instead of B·H·T²); with
/// `recomputeBlocks` only each block's input (rows × d) is kept and the block is
/// run again during the backward pass (activation checkpointing, for long sequences).
public final class ForwardRecord {
    public let recomputeBlocks: Bool
    /// Full records, or nil for blocks that will be recomputed.
    var layers: [LayerRecord?] = []
    /// Each block's input, kept in both modes.
    var blockInputs: [Tensor] = []
    var layout: RowLayout!
    var batch: TokenBatch!
    var cache: KVCache!
    /// h_L, [rows, d].
    var finalResidual: Tensor!
    /// Per residual index, the packed input rows of each intervention there, in order.
    var interventionInputs: [Int: [Tensor]] = [:]

    public init(recomputeBlocks: Bool = false) { self.recomputeBlocks = recomputeBlocks }

    func begin(batch: TokenBatch, layout: RowLayout, cache: KVCache) {
        layers = []
        blockInputs = []
        interventionInputs = [:]
        self.batch = batch
        self.layout = layout
        self.cache = cache
    }

    /// The buffers block `layers.count` runs in: a full record, or `scratch` when
    /// the block will be recomputed (then only its input is kept).
    func newLayer(config: ModelConfig, rows: Int, residualIn: Tensor, scratch: BlockScratch) -> BlockScratch {
        let input = Tensor(shape: [rows, config.hiddenSize], storage: FloatStorage(copying: residualIn.data, count: rows * config.hiddenSize))
        blockInputs.append(input)
        if recomputeBlocks {
            layers.append(nil)
            return scratch
        }
        let r = LayerRecord(config: config, layout: layout, residualIn: input)
        layers.append(r)
        return r
    }
}
