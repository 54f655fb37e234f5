import Foundation
import Model
import Formats

/// The tuned lens: one affine translator per residual index r < L,
/// h ↦ h + A_r h + b_r, applied before the final norm and W_U. A_r and b_r start
/// at zero (the translator starts as the identity: the logit lens).
public struct TunedLens {
    public let hiddenSize: Int
    /// A_r, [d, d] each, r = 0..<L.
    public var weights: [Tensor]
    /// b_r, [d] each.
    public var biases: [Tensor]
    /// Identifies the unembedding (W_U and the final norm's γ) the translators were trained for.
    public let unembeddingHash: String

    public var translatorCount: Int { weights.count }

    /// Zero translators for `model`.
    public init(identityFor model: TransformerModel) {
        let d = model.config.hiddenSize, L = model.config.layerCount
        hiddenSize = d
        weights = (0..<L).map { _ in Tensor(zeros: [d, d]) }
        biases = (0..<L).map { _ in Tensor(zeros: [d]) }
        unembeddingHash = Self.unembeddingHash(of: model)
    }

    /// A hash of W_U and γ_final: the part of a model a translator is tied to.
    public static func unembeddingHash(of model: TransformerModel) -> String {
        var h = ContentHash()
        let w = model.weights
        h.update(UnsafeRawBufferPointer(start: w.unembedding.data, count: w.unembedding.count * 4))
        h.update(UnsafeRawBufferPointer(start: w.finalNorm.data, count: w.finalNorm.count * 4))
        return h.hex
    }

    /// h + h A_rᵀ + b_r for the rows of `h` ([..., d]).
    public func translate(_ h: Tensor, residualIndex r: Int) throws -> Tensor {
        guard r >= 0 && r < translatorCount else { throw WorkbenchError("no tuned-lens translator for residual \(r)") }
        let d = hiddenSize, rows = h.count / d
        let out = Tensor(zeros: h.shape)
        translate(h.data, rows: rows, residualIndex: r, into: out.mutableData)
        return out
    }

    func translate(_ h: UnsafePointer<Float>, rows: Int, residualIndex r: Int, into out: UnsafeMutablePointer<Float>) {
        let d = hiddenSize
        out.update(from: h, count: rows * d)
        sgemmParallel(transB: true, m: rows, n: d, k: d, a: h, lda: d, b: weights[r].data, ldb: d, beta: 1, c: out, ldc: d)
        let b = biases[r].data
        for row in 0..<rows { for i in 0..<d { out[row * d + i] += b[i] } }
    }
}

/// Reading and writing tuned-lens files (docs/formats.md).
extension TunedLens {
    /// Held-out figures stored next to the translators.
    public struct Report: Sendable {
        /// Mean KL(final ‖ lens) per residual index 0...L, nats per token.
        public var logitLensKL: [Double]
        public var tunedLensKL: [Double]
        public var trainingLoss: [Float]
        public var heldOutTokens: Int
        public init(logitLensKL: [Double], tunedLensKL: [Double], trainingLoss: [Float], heldOutTokens: Int) {
            self.logitLensKL = logitLensKL; self.tunedLensKL = tunedLensKL
            self.trainingLoss = trainingLoss; self.heldOutTokens = heldOutTokens
        }
    }

    public func write(to path: String, model: TransformerModel, report: Report) throws {
        let d = hiddenSize, L = translatorCount
        let file = try HDF5Writer(path: path)
        try Provenance(model: model).write(to: file)
        try file.setAttribute("unembedding_hash", .string(unembeddingHash))
        try file.setAttribute("translator", .string("h + A h + b, applied to h_r (r < L) before the final norm"))
        try file.writeFloats("A", shape: [L, d, d], weights.flatMap(\.values))
        try file.writeFloats("b", shape: [L, d], biases.flatMap(\.values))
        try file.writeFloats("training_loss", shape: [report.trainingLoss.count], report.trainingLoss)
        try file.writeFloats("heldout/kl_logit_lens", shape: [L + 1], report.logitLensKL.map { Float($0) })
        try file.writeFloats("heldout/kl_tuned_lens", shape: [L + 1], report.tunedLensKL.map { Float($0) })
        try file.setAttribute("heldout_tokens", .int(report.heldOutTokens), on: "heldout")
        try file.commit()
    }

    /// Loads translators for `model`; a file made for another unembedding is refused.
    public init(path: String, model: TransformerModel) throws {
        let file = try HDF5Reader(path: path)
        guard let hash = try file.stringAttribute("unembedding_hash") else {
            throw WorkbenchError("not a tuned-lens file (no unembedding_hash attribute)", file: path)
        }
        let expected = Self.unembeddingHash(of: model)
        guard hash == expected else {
            throw WorkbenchError("tuned lens made for another model (unembedding hash \(hash), this model's is \(expected))", file: path)
        }
        let d = model.config.hiddenSize, L = model.config.layerCount
        let (aShape, a) = try file.readFloats("A"), (bShape, b) = try file.readFloats("b")
        guard aShape == [L, d, d], bShape == [L, d] else {
            throw WorkbenchError("translators have shapes A \(aShape), b \(bShape); the model needs [\(L), \(d), \(d)] and [\(L), \(d)]", file: path)
        }
        hiddenSize = d
        unembeddingHash = hash
        weights = (0..<L).map { Tensor(shape: [d, d], values: Array(a[($0 * d * d)..<(($0 + 1) * d * d)])) }
        biases = (0..<L).map { Tensor(shape: [d], values: Array(b[($0 * d)..<(($0 + 1) * d)])) }
    }
}
