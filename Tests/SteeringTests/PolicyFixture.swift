import Foundation
import Model
import XCTest

/// The token sequences of a policy-gradient fixture (scripts/make_adapter_fixtures.py,
/// make_reft_fixtures.py): prompts, completions, rewards and π_old, flattened in the file.
struct PolicyFixture {
    var model: TransformerModel
    var reference: SafeTensorsFile
    var prompts: [[Int]]
    var completions: [[Int]]
    var rewards: [Double]
    var old: [[Double]]

    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelTests/Fixtures/llama_gqa_llama3rope").path

    init(reference path: String) throws {
        model = try TransformerModel.load(directory: Self.modelPath)
        reference = try SafeTensorsFile(path: path)
        func split<T>(_ flat: [T], _ lengths: [Int]) -> [[T]] {
            var out: [[T]] = [], i = 0
            for n in lengths { out.append(Array(flat[i..<(i + n)])); i += n }
            return out
        }
        let completionLengths = try reference.intValues("completion_lengths")
        prompts = split(try reference.intValues("prompts"), try reference.intValues("prompt_lengths"))
        completions = split(try reference.intValues("completions"), completionLengths)
        rewards = try reference.floatTensor("rewards").values.map(Double.init)
        old = split(try reference.floatTensor("old_logprobs").values.map(Double.init), completionLengths)
    }

    /// The sequences as SFT examples.
    var examples: [(prompt: [Int], completion: [Int])] { Array(zip(prompts, completions)).map { (prompt: $0.0, completion: $0.1) } }

    /// Every parameter's accumulated gradient against `<prefix>.grad.<name>`: max |Δ| ≤ 1e-4 × max |reference|.
    func assertGradients(_ parameters: [Parameter], _ prefix: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(parameters.isEmpty, file: file, line: line)
        for p in parameters {
            let expected = try reference.floatTensor("\(prefix).grad.\(p.name)").values
            XCTAssertEqual(expected.count, p.gradient.count, p.name, file: file, line: line)
            let bound = 1e-4 * max(expected.map(abs).max()!, 1e-8)
            let diff = zip(p.gradient.values, expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(diff, bound, "\(prefix) \(p.name): max |Δ| \(diff) > \(bound)", file: file, line: line)
        }
    }
}
