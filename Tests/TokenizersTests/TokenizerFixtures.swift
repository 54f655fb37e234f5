import Foundation

/// Locates the tokenizer fixtures written by scripts/make_tokenizer_fixtures.py.
enum TokenizerFixtures {
    static let directory: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
}

/// A fresh temporary directory; callers remove it.
func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "workbench-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
