import ArgumentParser
import Foundation
import Model

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one sequence through the model and write logits and residuals to HDF5.",
        discussion: """
        Writes /input_ids [T], /logits [T, V] and /residual [L+1, T, d] (the residual stream \
        after the embedding and after every block, before the final norm), with provenance \
        attributes. See docs/formats.md.
        """)

    @Option(help: "Hugging Face model directory.")
    var model: String

    @Option(help: "Token ids, comma-separated, e.g. 1,2,3.")
    var ids: String

    @Option(help: "Output HDF5 file.")
    var out: String = "out/forward.h5"

    @Flag(help: "Leave out /residual.")
    var noResidual = false

    func run() throws {
        let tokens = try parseIDs(ids, option: "--ids")
        let m = try TransformerModel.load(directory: model)
        let result = try m.forward(TokenBatch(tokens), logits: .all, captureResiduals: !noResidual)
        let logits = result.logits!
        let (T, V, d, L) = (tokens.count, m.config.vocabSize, m.config.hiddenSize, m.config.layerCount)

        let file = try HDF5Writer(path: out)
        try Provenance(model: m).write(to: file)
        try file.writeInt32("input_ids", shape: [T], tokens)
        try file.writeFloats("logits", shape: [T, V], logits.data)
        if !noResidual {
            var all = [Float]()
            all.reserveCapacity((L + 1) * T * d)
            for r in result.residuals { all += r.values }
            try file.writeFloats("residual", shape: [L + 1, T, d], all)
        }
        try file.commit()

        let last = UnsafeBufferPointer(start: logits.data + (T - 1) * V, count: V)
        let next = Sampler.argmax(last)
        print("forward: \(T) tokens through \(L) blocks (\(m.config.architecture.rawValue), d=\(d), V=\(V))")
        print("next-token argmax after the last position: \(next) (logit \(String(format: "%.4f", last[next])))")
        print("wrote \(out): /input_ids [\(T)], /logits [\(T), \(V)]" + (noResidual ? "" : ", /residual [\(L + 1), \(T), \(d)]"))
    }
}
