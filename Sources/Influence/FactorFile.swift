import Foundation
import Model
import Formats

/// factors.h5 (docs/influence.md): per module a group named after it with /qa, /qs,
/// /lambda, /eigenvalues_a, /eigenvalues_s; root attributes fisher, token_count,
/// sequence_count, max_length and the provenance.
extension EKFACFactors {
    public func write(to path: String, model: TransformerModel) throws {
        let file = try HDF5Writer(path: path)
        try Provenance(model: model).write(to: file)
        try file.setAttribute("strategy", .string("ekfac"))
        try file.setAttribute("fisher", .string(fisher.rawValue))
        try file.setAttribute("token_count", .int(tokenCount))
        try file.setAttribute("sequence_count", .int(sequenceCount))
        try file.setAttribute("max_length", .int(maxLength))
        try file.writeStrings("modules", modules.map(\.module.name))
        for f in modules {
            let m = f.module, g = m.name
            try file.createGroup(g)
            try file.writeFloats("\(g)/qa", shape: [m.inputDimension, m.inputDimension], f.qa)
            try file.writeFloats("\(g)/qs", shape: [m.outputDimension, m.outputDimension], f.qs)
            try file.writeFloats("\(g)/lambda", shape: [m.outputDimension, m.inputDimension], f.lambda)
            try file.writeFloats("\(g)/eigenvalues_a", shape: [m.inputDimension], f.eigenvaluesA.map { Float($0) })
            try file.writeFloats("\(g)/eigenvalues_s", shape: [m.outputDimension], f.eigenvaluesS.map { Float($0) })
            try file.setAttribute("has_bias", .int(m.hasBias ? 1 : 0), on: g)
            try file.setAttribute("heuristic_damping", .double(f.heuristicDamping), on: g)
        }
        try file.commit()
    }

    /// Reads factors made for `model` (refused for another model or a broken file).
    public init(path: String, model: TransformerModel) throws {
        let file = try HDF5Reader(path: path)
        guard let fisherName = try file.stringAttribute("fisher"), let fisher = Fisher(rawValue: fisherName) else {
            throw WorkbenchError("not an EK-FAC factor file (no fisher attribute)", file: path)
        }
        let hash = try file.stringAttribute("model_hash") ?? ""
        guard hash == model.fingerprint else {
            throw WorkbenchError("factors were fitted on another model (model hash \(hash), this model's is \(model.fingerprint))", file: path)
        }
        var modules: [ModuleFactors] = []
        for name in try file.readStrings("modules") {
            let spec = try TrackedModule.select(name, model: model)
            guard spec.count == 1 else { throw WorkbenchError("unknown module '\(name)'", file: path) }
            let m = spec[0]
            let (qaShape, qa) = try file.readFloats("\(name)/qa"), (qsShape, qs) = try file.readFloats("\(name)/qs")
            let (lShape, lambda) = try file.readFloats("\(name)/lambda")
            guard qaShape == [m.inputDimension, m.inputDimension], qsShape == [m.outputDimension, m.outputDimension],
                  lShape == [m.outputDimension, m.inputDimension] else {
                throw WorkbenchError("\(name): factor shapes \(qaShape), \(qsShape), \(lShape) do not fit the module [\(m.outputDimension), \(m.inputDimension)]", file: path)
            }
            if let bad = lambda.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw WorkbenchError("\(name): corrected eigenvalue \(bad) is \(lambda[bad])", file: path)
            }
            modules.append(ModuleFactors(module: m, qa: qa, qs: qs,
                                         eigenvaluesA: try file.readFloats("\(name)/eigenvalues_a").values.map(Double.init),
                                         eigenvaluesS: try file.readFloats("\(name)/eigenvalues_s").values.map(Double.init),
                                         lambda: lambda))
        }
        self.init(modules: modules, tokenCount: Int(try file.numberAttribute("token_count") ?? 0),
                  sequenceCount: Int(try file.numberAttribute("sequence_count") ?? 0), fisher: fisher,
                  maxLength: Int(try file.numberAttribute("max_length") ?? Double(Options().maxLength)), modelHash: hash)
    }

    /// A hash of a factor file's bytes (recorded in score files).
    public static func fileHash(_ path: String) throws -> String {
        let data = try readFile(path)
        var h = ContentHash()
        h.update(data)
        return h.hex
    }
}
