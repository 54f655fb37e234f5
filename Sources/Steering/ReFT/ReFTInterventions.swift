import Foundation
import Model

/// What a ReFT run trains (the run's config.json keeps it; methods.md §4).
public struct ReFTSettings: Sendable, Codable, Equatable {
    public var kind: ReFTKind
    /// Blocks whose output is intervened on (residual index l + 1), ascending.
    public var layers: [Int]
    /// Prompt positions as pyreft users write them: the first `first` and the last `last`.
    public var first: Int
    public var last: Int
    /// One intervention for both position groups (pyreft's share_weights), else one each.
    public var shareWeights: Bool
    public var rank: Int
    /// Seeds the initial values.
    public var seed: UInt64
    /// The rows [lo, hi) of every intervention that act and train (nil: all).
    public var subspace: [Int]?
    /// A ReFT run whose values replace the initial ones (its settings must match but for the subspace).
    public var initialisedFrom: String?

    public init(kind: ReFTKind, layers: [Int], first: Int, last: Int, shareWeights: Bool = false, rank: Int = 4, seed: UInt64 = 0,
                subspace: Range<Int>? = nil, initialisedFrom: String? = nil) {
        self.kind = kind; self.layers = layers.sorted(); self.first = first; self.last = last
        self.shareWeights = shareWeights; self.rank = rank; self.seed = seed
        self.subspace = subspace.map { [$0.lowerBound, $0.upperBound] }; self.initialisedFrom = initialisedFrom
    }

    /// "0-2" (rows 0 and 1, as a half-open range lo-hi) → 0..<2.
    public static func parseSubspace(_ text: String) throws -> Range<Int> {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 0, parts[1] > parts[0] else {
            throw WorkbenchError("--subspace: '\(text)' is not lo-hi with 0 ≤ lo < hi (rows lo..hi−1)")
        }
        return parts[0]..<parts[1]
    }

    public var activeRows: Range<Int> { subspace.map { $0[0]..<$0[1] } ?? 0..<rank }

    /// "f7+l7", "f3", "l1" → (first, last).
    public static func parsePositions(_ text: String) throws -> (first: Int, last: Int) {
        var first = 0, last = 0
        for part in text.split(separator: "+").map(String.init) {
            guard let n = Int(part.dropFirst()), n >= 0, part.first == "f" || part.first == "l" else {
                throw WorkbenchError("--positions: '\(part)' is not fN or lN (e.g. f7+l7, f3, l1)")
            }
            if part.first == "f" { first = n } else { last = n }
        }
        guard first + last > 0 else { throw WorkbenchError("--positions: no position chosen") }
        return (first, last)
    }

    public var positions: String {
        [first > 0 ? "f\(first)" : nil, last > 0 ? "l\(last)" : nil].compactMap { $0 }.joined(separator: "+")
    }

    /// Position groups with their own intervention: one when tied or when only one count is set.
    var groups: [(name: String, selection: RowSelection)] {
        if shareWeights || first == 0 || last == 0 {
            return [(first > 0 && last > 0 ? "both" : first > 0 ? "first" : "last", .promptEnds(first: first, last: last))]
        }
        return [("first", .promptEnds(first: first, last: 0)), ("last", .promptEnds(first: 0, last: last))]
    }
}

/// ReFT interventions at one or more blocks and position groups: a `Trainable` whose
/// `LowRankIntervention`s the forward and backward passes apply through hooks. Parameters are
/// named `reft.<layer>.<group>.R` (P), `.W`, `.b`; group is first, last or both.
public final class ReFTInterventions: Trainable {
    public let settings: ReFTSettings
    public let sites: [(layer: Int, intervention: LowRankIntervention)]
    public let parameters: [Parameter]

    init(settings: ReFTSettings, sites: [(layer: Int, intervention: LowRankIntervention)]) {
        self.settings = settings
        self.sites = sites
        for s in sites { s.intervention.activeRows = settings.activeRows }
        parameters = sites.flatMap { s in [s.intervention.projection] + (s.intervention.source.map { [$0] } ?? []) + [s.intervention.bias] }
    }

    public func attach(to hooks: inout ForwardHooks) {
        for s in sites { hooks.add(s.intervention, at: s.layer + 1) }
    }

    /// Re-orthonormalises R after every update (kinds with orthonormal rows): a QR retraction.
    public func afterUpdate() {
        guard settings.kind.orthonormal else { return }
        for s in sites {
            let p = s.intervention.projection.value
            var rows = p.values
            do {
                try LinearAlgebra.orthonormalizeRows(&rows, rows: p.shape[0], columns: p.shape[1])
                p.mutableData.update(from: rows, count: rows.count)
            } catch {
                // A failed QR leaves R as it was; orthonormalityError reports the drift.
            }
        }
    }

    /// The largest |R Rᵀ − I| entry over the interventions (0 for kinds without orthonormal rows).
    public var orthonormalityError: Double {
        guard settings.kind.orthonormal else { return 0 }
        var worst = 0.0
        for s in sites {
            let p = s.intervention.projection.value
            let (r, d) = (p.shape[0], p.shape[1])
            for i in 0..<r {
                for j in 0..<r {
                    var dot = 0.0
                    for k in 0..<d { dot += Double(p.data[i * d + k]) * Double(p.data[j * d + k]) }
                    worst = max(worst, abs(dot - (i == j ? 1 : 0)))
                }
            }
        }
        return worst
    }

    /// Fresh interventions for a model of `config`. R: Gaussian rows orthonormalised by QR;
    /// W2 (kinds without orthogonality), W and b: U(±1/√d) as torch.nn.Linear initialises them;
    /// the bias-only kinds' b: U(0, 1) as pyreft's torch.rand.
    public static func initialise(_ settings: ReFTSettings, config: ModelConfig) throws -> ReFTInterventions {
        let (L, d, r) = (config.layerCount, config.hiddenSize, settings.rank)
        guard !settings.layers.isEmpty, settings.layers.allSatisfy({ $0 >= 0 && $0 < L }),
              Set(settings.layers).count == settings.layers.count else {
            throw WorkbenchError("--layers: each block once, between 0 and \(L - 1)")
        }
        guard r >= 1 && r <= d else { throw WorkbenchError("--rank must be between 1 and the model's width \(d)") }
        guard settings.activeRows.upperBound <= r else { throw WorkbenchError("--subspace: rows \(settings.activeRows) exceed rank \(r)") }
        var g = SeededGenerator(seed: settings.seed)
        let bound = 1 / Float(d).squareRoot()
        func uniform(_ n: Int, _ low: Float, _ high: Float) -> [Float] { (0..<n).map { _ in low + (high - low) * g.nextUnitFloat() } }
        var sites: [(layer: Int, intervention: LowRankIntervention)] = []
        for l in settings.layers {
            for group in settings.groups {
                let name = "reft.\(l).\(group.name)"
                var p: [Float]
                if settings.kind.orthonormal {
                    p = (0..<(r * d)).map { _ in g.nextGaussian() }
                    try LinearAlgebra.orthonormalizeRows(&p, rows: r, columns: d)
                } else {
                    p = uniform(r * d, -bound, bound)
                }
                let source = settings.kind.hasSource
                    ? Parameter(name: name + ".W", value: Tensor(shape: [r, d], values: uniform(r * d, -bound, bound)), decays: true) : nil
                let b = settings.kind.hasSource ? uniform(r, -bound, bound) : uniform(r, 0, 1)
                sites.append((l, LowRankIntervention(
                    kind: settings.kind, selection: group.selection,
                    projection: Parameter(name: name + ".R", value: Tensor(shape: [r, d], values: p), decays: !settings.kind.orthonormal),
                    source: source, bias: Parameter(name: name + ".b", value: Tensor(shape: [r], values: b), decays: false))))
            }
        }
        let made = ReFTInterventions(settings: settings, sites: sites)
        if let source = settings.initialisedFrom {
            let file = (source as NSString).appendingPathComponent(runFileName)
            let other = try load(file, config: config)
            var a = other.settings, b = settings
            (a.subspace, b.subspace, a.initialisedFrom, b.initialisedFrom, a.seed, b.seed) = (nil, nil, nil, nil, 0, 0)
            guard a == b else {
                throw WorkbenchError("holds \(other.settings.kind.rawValue) interventions at blocks \(other.settings.layers), \(other.settings.positions), rank \(other.settings.rank); --init needs the same", file: file)
            }
            for (mine, theirs) in zip(made.parameters, other.parameters) {
                mine.value.mutableData.update(from: theirs.value.data, count: theirs.value.count)
            }
        }
        return made
    }

    /// The same interventions acting on other rows (applying both halves of a composition).
    public func restricted(to rows: Range<Int>) throws -> ReFTInterventions {
        guard rows.upperBound <= settings.rank else { throw WorkbenchError("--subspace: rows \(rows) exceed rank \(settings.rank)") }
        var s = settings
        s.subspace = [rows.lowerBound, rows.upperBound]
        return ReFTInterventions(settings: s, sites: sites)
    }

    public static let runFileName = "reft.safetensors"

    /// Every parameter under its name, float32, with the settings as metadata.
    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try SafeTensorsWriter.write(parameters.map { ($0.name, $0.value) }, to: path,
                                    metadata: ["format": "pt", "reft_settings": String(decoding: try encoder.encode(settings), as: UTF8.self)])
    }

    /// Reads a run's reft.safetensors, checking every tensor against the settings and the model.
    public static func load(_ path: String, config: ModelConfig) throws -> ReFTInterventions {
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata["reft_settings"],
              let settings = try? JSONDecoder().decode(ReFTSettings.self, from: Data(json.utf8)) else {
            throw WorkbenchError("not a ReFT adapter (no reft_settings metadata)", file: path)
        }
        var fresh = settings
        fresh.initialisedFrom = nil   // the file holds the values
        let made = try initialise(fresh, config: config)
        for p in made.parameters {
            let t = try file.floatTensor(p.name)
            guard t.shape == p.value.shape else {
                throw WorkbenchError("tensor '\(p.name)' is \(t.shape), expected \(p.value.shape) for a model of width \(config.hiddenSize)", file: path)
            }
            guard t.values.allSatisfy(\.isFinite) else { throw WorkbenchError("tensor '\(p.name)' contains NaN or infinity", file: path) }
            p.value.mutableData.update(from: t.data, count: t.count)
        }
        return ReFTInterventions(settings: settings, sites: made.sites)
    }
}
