import Foundation

/// The embedded default model: the small Llama-architecture model the workbench
/// pretrains on its own synthetic corpus, shipped in notebooks-data/. Commands use
/// it when no --model is given, from any working directory.
public enum DefaultModel {
    /// The repository's notebooks-data directory (located from this source file,
    /// so it is found wherever the command is run), or WORKBENCH_DATA when set.
    public static var dataDirectory: String {
        if let override = ProcessInfo.processInfo.environment["WORKBENCH_DATA"] { return override }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()   // Model
            .deletingLastPathComponent()   // Sources
            .deletingLastPathComponent()   // repository root
            .appendingPathComponent("notebooks-data").path
    }

    /// The model directory: notebooks-data/model.
    public static var directory: String { (dataDirectory as NSString).appendingPathComponent("model") }

    /// `given`, or the embedded model's directory when nil.
    public static func resolve(_ given: String?) throws -> String {
        if let given { return given }
        let dir = directory
        guard FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("config.json")) else {
            throw WorkbenchError("the embedded model is missing (expected a Hugging Face directory); pass --model DIR", file: dir)
        }
        return dir
    }
}
