import Foundation
import Model

/// Reading and writing weight adapters (docs/formats.md):
/// - a run's `adapter.safetensors`: PEFT's tensor names without PEFT's wrapper prefixes,
///   `<module>.lora_A.weight` / `.lora_B.weight` (LoRA), `<module>.loraxs_A` / `_B` / `_R`
///   (LoRA-XS), `<module>.tinylora_A` / `_B` / `_P` and `tinylora_v.<group>` (TinyLoRA), with
///   metadata `adapter_kind` and `adapter_modules` (each module's group and scale), so any
///   tying reads back exactly;
/// - a PEFT adapter directory (adapter_config.json, adapter_model.safetensors) that PEFT loads
///   onto the transformers model, written by `steer export --format peft` and read by `--adapter`.
extension WeightAdapter {
    public static let runFileName = "adapter.safetensors"

    /// One module's entry in `adapter_modules`.
    struct ModuleEntry: Codable { var module: String; var group: Int?; var scale: Float? }

    // MARK: the run's file

    public func save(to path: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        var entries: [ModuleEntry] = []
        var written = Set<Int>()
        for m in modules {
            let name = m.id.description
            switch m.factors {
            case .lora(let d, let scale):
                tensors += [(name + ".lora_A.weight", d.a.value), (name + ".lora_B.weight", d.b.value)]
                entries.append(ModuleEntry(module: name, group: nil, scale: scale))
            case .projected(let d, let group):
                if kind == .loraxs {
                    let r = d.rank
                    tensors += [(name + ".loraxs_A", d.a), (name + ".loraxs_B", d.b),
                                (name + ".loraxs_R", Tensor(shape: [r, r], values: d.v.value.values))]
                    entries.append(ModuleEntry(module: name, group: nil, scale: nil))
                } else {
                    tensors += [(name + ".tinylora_A", d.a), (name + ".tinylora_B", d.b), (name + ".tinylora_P", d.projections)]
                    if written.insert(group).inserted { tensors.append(("tinylora_v.\(group)", d.v.value)) }
                    entries.append(ModuleEntry(module: name, group: group, scale: nil))
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]   // the same bytes for the same adapter
        let json = String(decoding: try encoder.encode(entries), as: UTF8.self)
        try SafeTensorsWriter.write(tensors, to: path, metadata: ["format": "pt", "adapter_kind": kind.rawValue, "adapter_modules": json])
    }

    /// Reads a run's adapter.safetensors and checks it against `model`.
    public static func load(_ path: String, model: TransformerModel) throws -> WeightAdapter {
        let file = try SafeTensorsFile(path: path)
        guard let kindName = file.metadata["adapter_kind"], let kind = AdapterKind(rawValue: kindName),
              let json = file.metadata["adapter_modules"],
              let entries = try? JSONDecoder().decode([ModuleEntry].self, from: Data(json.utf8)) else {
            throw WorkbenchError("not a workbench adapter (no adapter_kind / adapter_modules metadata)", file: path)
        }
        let reader = ModuleReader(file: file, model: model)
        var vectors: [Int: Parameter] = [:]
        let modules = try entries.map { e -> AdaptedModule in
            let id = try reader.linearID(e.module)
            switch kind {
            case .lora:
                guard let scale = e.scale, scale.isFinite else { throw WorkbenchError("module \(e.module) has no scale", file: path) }
                return try reader.lora(id, a: e.module + ".lora_A.weight", b: e.module + ".lora_B.weight", scale: scale)
            case .loraxs:
                let r = try reader.tensor(e.module + ".loraxs_R")
                guard r.shape.count == 2, r.shape[0] == r.shape[1] else {
                    throw WorkbenchError("\(e.module).loraxs_R is \(r.shape), not r × r", file: path)
                }
                let v = Parameter(name: "loraxs.\(id).R", value: Tensor(shape: [r.count], values: r.values), decays: false)
                return try reader.projected(id, a: e.module + ".loraxs_A", b: e.module + ".loraxs_B",
                                            projections: standardBasis(rank: r.shape[0]), v: v, group: 0)
            case .tinylora:
                guard let group = e.group else { throw WorkbenchError("module \(e.module) has no group", file: path) }
                if vectors[group] == nil {
                    vectors[group] = Parameter(name: "tinylora.v.\(group)", value: try reader.tensor("tinylora_v.\(group)").copy(), decays: false)
                }
                return try reader.projected(id, a: e.module + ".tinylora_A", b: e.module + ".tinylora_B",
                                            projections: try reader.tensor(e.module + ".tinylora_P"), v: vectors[group]!, group: group)
            }
        }
        guard !modules.isEmpty else { throw WorkbenchError("the adapter adapts no module", file: path) }
        return WeightAdapter(kind: kind, modules: modules)
    }

    // MARK: PEFT

    static let peftModelPrefix = "base_model.model."
    static let peftSharedPrefix = "base_model."

    /// Writes a PEFT adapter directory. LoRA and LoRA-XS become a PEFT LoRA adapter (LoRA-XS as
    /// A' = R V_rᵀ, B' = U_r Σ_r, α = r); TinyLoRA a PEFT TinyLoRA adapter with the A, B and P
    /// used here, and one v per group when PEFT's grouping (`weight_tying`) reproduces ours,
    /// else one copy of its group's v per module (the same function, untied).
    public func exportPEFT(to directory: String, baseModel: String) throws {
        var config: [String: Any] = [
            "base_model_name_or_path": baseModel, "bias": "none", "fan_in_fan_out": false, "inference_mode": true,
            "layers_pattern": NSNull(), "layers_to_transform": NSNull(), "modules_to_save": NSNull(),
            "revision": NSNull(), "task_type": "CAUSAL_LM", "target_modules": modules.map(\.id.description),
        ]
        var tensors: [(name: String, tensor: Tensor)] = []
        switch kind {
        case .lora, .loraxs:
            let r: Int
            if case .lora(let d, let scale) = modules[0].factors {
                r = d.a.value.shape[0]
                guard modules.allSatisfy({ if case .lora(let e, let s) = $0.factors { return e.a.value.shape[0] == r && s == scale }; return false }) else {
                    throw WorkbenchError("PEFT's LoRA format needs one rank and one scale for every module")
                }
                config["lora_alpha"] = Double(scale) * Double(r)
            } else {
                if case .projected(let d, _) = modules[0].factors { r = d.rank } else { r = 0 }
                config["lora_alpha"] = r
            }
            config.merge(["peft_type": "LORA", "r": r, "lora_dropout": 0.0, "use_rslora": false, "use_dora": false,
                          "init_lora_weights": true, "rank_pattern": [String: Any](), "alpha_pattern": [String: Any]()]) { $1 }
            for m in modules {
                let name = Self.peftModelPrefix + m.id.description
                switch m.factors {
                case .lora(let d, _):
                    tensors += [(name + ".lora_A.weight", d.a.value), (name + ".lora_B.weight", d.b.value)]
                case .projected(let d, _):
                    let pair = d.product   // A' = M A, B
                    tensors += [(name + ".lora_A.weight", pair.a), (name + ".lora_B.weight", pair.b)]
                }
            }
        case .tinylora:
            var groups: [Int] = [], deltas: [ProjectedCoreDelta] = []
            for m in modules { if case .projected(let d, let g) = m.factors { groups.append(g); deltas.append(d) } }
            let distinct = Set(groups).count, n = modules.count
            let tying = 1 - Double(distinct) / Double(n)
            let keepsGroups = Self.peftGroups(count: n, weightTying: tying) == groups
            config.merge(["peft_type": "TINYLORA", "r": deltas[0].rank, "u": deltas[0].v.value.count,
                          "weight_tying": keepsGroups ? tying : 0.0, "projection_seed": 42, "save_projection": true,
                          "init_weights": true, "init_v_bound": 0.02, "tinylora_dropout": 0.0]) { $1 }
            var written = Set<Int>()
            for (i, (m, d)) in zip(modules, deltas).enumerated() {
                let name = Self.peftModelPrefix + m.id.description
                tensors += [(name + ".tinylora_A", d.a), (name + ".tinylora_B", d.b), (name + ".tinylora_P", d.projections)]
                let key = keepsGroups ? groups[i] : i
                if written.insert(key).inserted { tensors.append((Self.peftSharedPrefix + "tinylora_v.\(key)", d.v.value)) }
            }
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try SafeTensorsWriter.write(tensors, to: (directory as NSString).appendingPathComponent("adapter_model.safetensors"))
        try writeFileAtomically(json, to: (directory as NSString).appendingPathComponent("adapter_config.json"))
    }

    /// PEFT's TinyLoRA grouping of n target modules in model order: round(n (1 − weight_tying))
    /// groups of ⌊n / groups⌋ neighbours, the remainder joining the last group.
    static func peftGroups(count n: Int, weightTying: Double) -> [Int] {
        let groupCount = max(1, Int((Double(n) * (1 - weightTying)).rounded(.toNearestOrEven)))
        let size = max(1, n / groupCount)
        return (0..<n).map { min($0 / size, groupCount - 1) }
    }

    /// Reads a PEFT LoRA or TinyLoRA adapter directory (trained here or elsewhere).
    public static func loadPEFT(_ directory: String, model: TransformerModel) throws -> WeightAdapter {
        let configPath = (directory as NSString).appendingPathComponent("adapter_config.json")
        let tensorsPath = (directory as NSString).appendingPathComponent("adapter_model.safetensors")
        let data = try readFile(configPath)
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WorkbenchError("not a JSON object", file: configPath)
        }
        guard FileManager.default.fileExists(atPath: tensorsPath) else {
            throw WorkbenchError("no adapter_model.safetensors (PEFT's .bin format is not read; save with safe_serialization=True)", file: directory)
        }
        let file = try SafeTensorsFile(path: tensorsPath)
        var reader = ModuleReader(file: file, model: model)
        func refuse(_ key: String, unless allowed: (Any) -> Bool) throws {
            if let value = config[key], !(value is NSNull), !allowed(value) {
                throw WorkbenchError("\(key) = \(value) is not supported", file: configPath)
            }
        }
        func isFalse(_ v: Any) -> Bool { (v as? Bool) == false }
        func isEmpty(_ v: Any) -> Bool { (v as? [String: Any])?.isEmpty ?? (v as? [Any])?.isEmpty ?? false }
        try refuse("fan_in_fan_out", unless: isFalse)
        try refuse("modules_to_save", unless: isEmpty)
        try refuse("bias", unless: { ($0 as? String) == "none" })
        let type = config["peft_type"] as? String ?? "(missing)"
        // Module names in the file, in model order.
        let suffixes: [String]
        switch type {
        case "LORA": suffixes = [".lora_A.weight", ".lora_B.weight"]
        case "TINYLORA": suffixes = [".tinylora_A", ".tinylora_B", ".tinylora_P"]
        default: throw WorkbenchError("peft_type \(type) is not read; LORA and TINYLORA are", file: configPath)
        }
        var names = Set<String>()
        for key in file.tensors.keys {
            if type == "TINYLORA", key.hasPrefix(peftSharedPrefix + "tinylora_v.") { continue }
            guard key.hasPrefix(peftModelPrefix), let suffix = suffixes.first(where: key.hasSuffix) else {
                throw WorkbenchError("tensor '\(key)' is not one of a \(type) adapter's", file: tensorsPath)
            }
            names.insert(String(key.dropFirst(peftModelPrefix.count).dropLast(suffix.count)))
        }
        let ids = try names.map { try reader.linearID($0) }.sorted { ($0.layer, LinearSite.allCases.firstIndex(of: $0.site)!) < ($1.layer, LinearSite.allCases.firstIndex(of: $1.site)!) }
        guard !ids.isEmpty else { throw WorkbenchError("the adapter adapts no module", file: tensorsPath) }
        reader.prefix = peftModelPrefix
        if type == "LORA" {
            try refuse("use_dora", unless: isFalse)
            try refuse("lora_bias", unless: isFalse)
            try refuse("rank_pattern", unless: isEmpty)
            try refuse("alpha_pattern", unless: isEmpty)
            try refuse("layer_replication", unless: isEmpty)
            try refuse("target_parameters", unless: isEmpty)
            guard let r = (config["r"] as? NSNumber)?.doubleValue, r >= 1,
                  let alpha = (config["lora_alpha"] as? NSNumber)?.doubleValue, alpha.isFinite else {
                throw WorkbenchError("r or lora_alpha missing or not a number", file: configPath)
            }
            let scale = (config["use_rslora"] as? Bool ?? false) ? alpha / r.squareRoot() : alpha / r
            let modules = try ids.map { id -> AdaptedModule in
                let m = try reader.lora(id, a: "\(id).lora_A.weight", b: "\(id).lora_B.weight", scale: Float(scale))
                if case .lora(let d, _) = m.factors, d.a.value.shape[0] != Int(r) {
                    throw WorkbenchError("\(id) has rank \(d.a.value.shape[0]), the config says r = \(Int(r))", file: tensorsPath)
                }
                return m
            }
            return WeightAdapter(kind: .lora, modules: modules)
        }
        guard let tying = (config["weight_tying"] as? NSNumber)?.doubleValue, (0...1).contains(tying) else {
            throw WorkbenchError("weight_tying missing or not between 0 and 1", file: configPath)
        }
        if ids.contains(where: { file.tensors["\(peftModelPrefix)\($0).tinylora_P"] == nil }) {
            throw WorkbenchError("saved without its projections P (save_projection = false); PyTorch's generator that would redraw them is not available here", file: configPath)
        }
        let groups = peftGroups(count: ids.count, weightTying: tying)
        var vectors: [Int: Parameter] = [:]
        let modules = try zip(ids, groups).map { id, g -> AdaptedModule in
            if vectors[g] == nil {
                let name = peftSharedPrefix + "tinylora_v.\(g)"
                guard file.tensors[name] != nil else { throw WorkbenchError("missing tensor '\(name)' (group \(g) of \(id))", file: tensorsPath) }
                vectors[g] = Parameter(name: "tinylora.v.\(g)", value: try reader.tensor(name, prefixed: false).copy(), decays: false)
            }
            return try reader.projected(id, a: "\(id).tinylora_A", b: "\(id).tinylora_B",
                                        projections: try reader.tensor("\(id).tinylora_P"), v: vectors[g]!, group: g)
        }
        return WeightAdapter(kind: .tinylora, modules: modules)
    }
}

/// Reads and validates one adapter file's tensors against the model they are for.
struct ModuleReader {
    let file: SafeTensorsFile
    let model: TransformerModel
    var prefix = ""

    init(file: SafeTensorsFile, model: TransformerModel) { self.file = file; self.model = model }

    /// "model.layers.3.mlp.up_proj" → LinearID, checked against the model's blocks.
    func linearID(_ name: String) throws -> LinearID {
        let parts = name.split(separator: ".").map(String.init)
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let l = Int(parts[2]),
              let site = LinearSite(rawValue: parts[4]), site.hfPrefix(layer: l) == name else {
            throw WorkbenchError("'\(name)' is not a linear layer of a Llama/Qwen2 block", file: file.path)
        }
        guard l >= 0 && l < model.config.layerCount else {
            throw WorkbenchError("\(name): the model has blocks 0..<\(model.config.layerCount)", file: file.path)
        }
        return LinearID(layer: l, site: site)
    }

    func tensor(_ name: String, prefixed: Bool = true) throws -> Tensor {
        let t = try file.floatTensor(prefixed ? prefix + name : name)
        guard t.values.allSatisfy(\.isFinite) else { throw WorkbenchError("tensor '\(name)' contains NaN or infinity", file: file.path) }
        return t
    }

    func lora(_ id: LinearID, a: String, b: String, scale: Float) throws -> AdaptedModule {
        let lw = model.weights.blocks[id.layer].linear(id.site)
        let (ta, tb) = (try tensor(a), try tensor(b))
        guard ta.shape.count == 2, tb.shape.count == 2, ta.shape[1] == lw.inFeatures, tb.shape[0] == lw.outFeatures,
              ta.shape[0] == tb.shape[1], ta.shape[0] >= 1 else {
            throw WorkbenchError("\(id): A \(ta.shape) and B \(tb.shape) do not fit the model's \(lw.outFeatures) × \(lw.inFeatures) weight", file: file.path)
        }
        let delta = LoRADelta(a: Parameter(name: "lora.\(id).A", value: ta.copy(), decays: true),
                              b: Parameter(name: "lora.\(id).B", value: tb.copy(), decays: true))
        return AdaptedModule(id: id, factors: .lora(delta, scale: scale))
    }

    func projected(_ id: LinearID, a: String, b: String, projections: Tensor, v: Parameter, group: Int) throws -> AdaptedModule {
        let lw = model.weights.blocks[id.layer].linear(id.site)
        let (ta, tb) = (try tensor(a), try tensor(b))
        let r = ta.shape.first ?? 0
        guard ta.shape.count == 2, tb.shape.count == 2, ta.shape[1] == lw.inFeatures, tb.shape == [lw.outFeatures, r], r >= 1 else {
            throw WorkbenchError("\(id): A \(ta.shape) and B \(tb.shape) do not fit the model's \(lw.outFeatures) × \(lw.inFeatures) weight", file: file.path)
        }
        guard projections.shape == [v.value.count, r, r] else {
            throw WorkbenchError("\(id): projections \(projections.shape) do not match v [\(v.value.count)] and rank \(r)", file: file.path)
        }
        return AdaptedModule(id: id, factors: .projected(ProjectedCoreDelta(a: ta.copy(), b: tb.copy(), projections: projections.copy(), v: v),
                                                         group: group))
    }
}
