import CKernels
import Foundation

/// Which files hold a model's weights, and in which dtype they are stored.
public struct CheckpointFiles {
    public let directory: String
    public let files: [SafeTensorsFile]
    /// tensor name → file index
    public let location: [String: Int]

    /// Opens `model.safetensors`, or the shards listed in `model.safetensors.index.json`.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let single = (directory as NSString).appendingPathComponent("model.safetensors")
        let index = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: single) {
            let f = try SafeTensorsFile(path: single)
            files = [f]
            location = Dictionary(uniqueKeysWithValues: f.tensors.keys.map { ($0, 0) })
        } else if fm.fileExists(atPath: index) {
            let data = try readFile(index)
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw WorkbenchError("not a valid index: expected a JSON object with a 'weight_map' of tensor → shard file", file: index)
            }
            let shardNames = Array(Set(map.values)).sorted()
            var opened: [SafeTensorsFile] = []
            var shardIndex: [String: Int] = [:]
            for name in shardNames {
                let path = try Self.shardPath(name, directory: directory, index: index)
                shardIndex[name] = opened.count
                opened.append(try SafeTensorsFile(path: path))
            }
            var loc: [String: Int] = [:]
            for (tensor, shard) in map {
                let i = shardIndex[shard]!
                guard opened[i].tensors[tensor] != nil else {
                    throw WorkbenchError("index says tensor '\(tensor)' is in this shard, but it is not", file: opened[i].path)
                }
                loc[tensor] = i
            }
            files = opened
            location = loc
        } else {
            throw WorkbenchError("no model.safetensors or model.safetensors.index.json in the model directory", file: directory)
        }
    }

    /// The path of a shard named by the index, refused when the name or a symlink leads out of
    /// the model directory (a name is data from a downloaded file). One exception: a Hugging Face
    /// cache snapshot (`models--ORG--NAME/snapshots/REV/`), whose files are symlinks into the
    /// same repository's `blobs/`.
    static func shardPath(_ name: String, directory: String, index: String) throws -> String {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
            throw WorkbenchError("shard name '\(name)' must be a file in the same directory", file: index)
        }
        let path = (directory as NSString).appendingPathComponent(name)
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        let realDirectory = (absolute as NSString).resolvingSymlinksInPath
        let realPath = ((absolute as NSString).appendingPathComponent(name) as NSString).resolvingSymlinksInPath
        var roots = [realDirectory]
        let parent = (realDirectory as NSString).deletingLastPathComponent
        let repository = (parent as NSString).deletingLastPathComponent
        if (parent as NSString).lastPathComponent == "snapshots", (repository as NSString).lastPathComponent.hasPrefix("models--") {
            roots.append((repository as NSString).appendingPathComponent("blobs"))
        }
        guard roots.contains(where: { realPath.hasPrefix($0 + "/") }) else {
            throw WorkbenchError("shard '\(name)' is a link to \(realPath), outside the model directory; refused", file: index)
        }
        return path
    }

    public var tensorNames: [String] { Array(location.keys) }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) -> SafeTensorInfo? {
        location[name].flatMap { files[$0].tensors[name] }
    }

    /// Loads a tensor as f32 and checks its shape against what the config implies.
    public func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        guard let i = location[name] else {
            throw WorkbenchError("missing tensor '\(name)'", file: files.count == 1 ? files[0].path : directory)
        }
        let t = try files[i].floatTensor(name)
        guard t.shape == expected else {
            throw WorkbenchError("tensor '\(name)' has shape \(t.shape) but config.json implies \(expected)", file: files[i].path)
        }
        // Σx² in float64 is finite exactly when every value is (a float32 squared cannot overflow it).
        guard wb_sum_squares(t.data, t.count).isFinite else {
            throw WorkbenchError("tensor '\(name)' holds NaN or infinite values", file: files[i].path)
        }
        return t
    }

    /// Storage dtypes present, e.g. ["BF16"].
    public var storedDTypes: [String] {
        Array(Set(location.compactMap { info($0.key)?.dtype.rawValue })).sorted()
    }
}

extension ModelWeights {
    /// Reads every weight named by the config from `files`, checking shapes; without an
    /// `lm_head.weight` the unembedding is the embedding (tied, or the head simply absent).
    public init(config c: ModelConfig, files: CheckpointFiles) throws {
        self = try ModelWeights.build(config: c, tied: !files.contains(WeightName.unembedding)) { spec in
            try files.tensor(spec.name, shape: spec.shape)
        }
    }
}
