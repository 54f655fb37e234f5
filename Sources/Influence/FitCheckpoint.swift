import Foundation
import Formats
import Model

/// Where and how often `EKFACFactors.fit` saves its state, so that a killed fit resumes.
public struct FitCheckpoints: Sendable {
    /// This process's file (under MPI one per rank: each holds that rank's own sums).
    public var path: String
    /// Identifies the inputs and options; a file with another key is refused, not resumed.
    public var runKey: String
    /// Seconds between saves; a save also waits at least ten times as long as the last one
    /// took, so that writing the sums (gigabytes on a real model) costs at most ~10%.
    public var interval: Double

    public init(path: String, runKey: String, interval: Double) {
        self.path = path
        self.runKey = runKey
        self.interval = interval
    }
}

/// The state of an interrupted fit, one HDF5 file per process, rewritten whole (atomically)
/// at each save. Pass 1 keeps this process's float64 sums Σ a aᵀ and Σ g gᵀ; pass 2 keeps the
/// eigendecompositions (every process has the same) and this process's Λ sums. Sums are added
/// in the same order whether or not the run was interrupted, so a resumed fit writes the same
/// bits as an uninterrupted one.
final class FitCheckpoint {
    let settings: FitCheckpoints
    let modules: [TrackedModule]
    private var lastSave = Date()
    private var lastDuration = 0.0

    init(_ settings: FitCheckpoints, modules: [TrackedModule]) {
        self.settings = settings
        self.modules = modules
    }

    /// True when a save is due.
    var due: Bool { Date().timeIntervalSince(lastSave) >= max(settings.interval, 10 * lastDuration) }

    /// The position and counts saved with either pass.
    struct Position {
        var pass: Int
        /// Sequences with a smaller index are done.
        var nextIndex: Int
        /// Pass 1: this process's counts so far; pass 2: the totals over every process.
        var tokens: Int
        var sequences: Int
        /// Pass 2: sequences this process has added to Λ.
        var done: Int
    }

    func savePass1(_ position: Position, sumsA: DoubleBuffers, sumsS: DoubleBuffers) throws {
        try save(position) { file in
            for (i, m) in modules.enumerated() {
                try file.writeDoubles("a/\(i)", shape: [m.inputDimension, m.inputDimension], sumsA[i])
                try file.writeDoubles("s/\(i)", shape: [m.outputDimension, m.outputDimension], sumsS[i])
            }
        }
    }

    func savePass2(_ position: Position, factors: [ModuleFactors], lambdaSums: DoubleBuffers) throws {
        try save(position) { file in
            for (i, f) in factors.enumerated() {
                let m = f.module
                try file.writeFloats("qa/\(i)", shape: [m.inputDimension, m.inputDimension], f.qa)
                try file.writeFloats("qs/\(i)", shape: [m.outputDimension, m.outputDimension], f.qs)
                try file.writeDoubles("eigenvalues_a/\(i)", shape: [f.eigenvaluesA.count], f.eigenvaluesA)
                try file.writeDoubles("eigenvalues_s/\(i)", shape: [f.eigenvaluesS.count], f.eigenvaluesS)
                try file.writeDoubles("lambda_sums/\(i)", shape: [m.outputDimension, m.inputDimension], lambdaSums[i])
            }
        }
    }

    private func save(_ p: Position, _ body: (HDF5Writer) throws -> Void) throws {
        let start = Date()
        let file = try HDF5Writer(path: settings.path)
        try file.setAttribute("run_key", .string(settings.runKey))
        try file.writeStrings("modules", modules.map(\.name))
        for (name, value) in [("pass", p.pass), ("next_index", p.nextIndex), ("token_count", p.tokens),
                              ("sequence_count", p.sequences), ("done", p.done)] {
            try file.setAttribute(name, .int(value))
        }
        try body(file)
        try file.commit()
        lastSave = Date()
        lastDuration = lastSave.timeIntervalSince(start)
    }

    /// The saved state, or nil when there is no file. A file from other inputs or options,
    /// or one that does not hold what its pass needs, is refused with a clear message.
    func load() throws -> SavedFit? {
        let path = settings.path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try HDF5Reader(path: path)
        guard try file.stringAttribute("run_key") == settings.runKey, try file.readStrings("modules") == modules.map(\.name) else {
            throw WorkbenchError("a partial fit with other inputs or options is in the way; remove it to start afresh", file: path)
        }
        func number(_ name: String) throws -> Int {
            guard let v = try file.numberAttribute(name), v >= 0, v == v.rounded(), v < 1e15 else {
                throw WorkbenchError("partial fit: attribute '\(name)' is missing or not a count", file: path)
            }
            return Int(v)
        }
        let position = Position(pass: try number("pass"), nextIndex: try number("next_index"), tokens: try number("token_count"),
                                sequences: try number("sequence_count"), done: try number("done"))
        guard position.pass == 1 || position.pass == 2 else { throw WorkbenchError("partial fit: pass \(position.pass) is not 1 or 2", file: path) }
        return SavedFit(position: position, file: file, modules: modules)
    }
}

/// A loaded checkpoint: its position, and readers for the arrays of its pass.
struct SavedFit {
    let position: FitCheckpoint.Position
    let file: HDF5Reader
    let modules: [TrackedModule]

    func readSums(intoA sumsA: DoubleBuffers, s sumsS: DoubleBuffers) throws {
        for (i, m) in modules.enumerated() {
            try file.readDoubles("a/\(i)", shape: [m.inputDimension, m.inputDimension], into: sumsA[i])
            try file.readDoubles("s/\(i)", shape: [m.outputDimension, m.outputDimension], into: sumsS[i])
        }
    }

    func readFactors() throws -> [ModuleFactors] {
        try modules.enumerated().map { i, m in
            let (qaShape, qa) = try file.readFloats("qa/\(i)"), (qsShape, qs) = try file.readFloats("qs/\(i)")
            let ea = try file.readDoubles("eigenvalues_a/\(i)").values, es = try file.readDoubles("eigenvalues_s/\(i)").values
            guard qaShape == [m.inputDimension, m.inputDimension], qsShape == [m.outputDimension, m.outputDimension],
                  ea.count == m.inputDimension, es.count == m.outputDimension else {
                throw WorkbenchError("partial fit: the eigenbases of \(m.name) do not fit the module", file: file.path)
            }
            return ModuleFactors(module: m, qa: qa, qs: qs, eigenvaluesA: ea, eigenvaluesS: es,
                                 lambda: [Float](repeating: 0, count: m.parameterCount))
        }
    }

    func readLambdaSums(into sums: DoubleBuffers) throws {
        for (i, m) in modules.enumerated() {
            try file.readDoubles("lambda_sums/\(i)", shape: [m.outputDimension, m.inputDimension], into: sums[i])
        }
    }
}
