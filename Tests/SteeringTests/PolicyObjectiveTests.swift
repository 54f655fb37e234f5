import Corpus
import Formats
import Foundation
import Model
import Steering
import XCTest

final class PolicyObjectiveTests: XCTestCase {
    func testAdvantages() {
        let rewards = [1.0, -1, -1, -1, 1, 1, 1, 1]   // two groups of 4; the second is flat
        let grpo = PolicyObjective(advantage: .groupMean, scaling: .none, reduction: .dapo)
        XCTAssertEqual(grpo.advantages(rewards: rewards, groupSize: 4), [1.5, -0.5, -0.5, -0.5, 0, 0, 0, 0])
        let rloo = PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo)
        // r_i − mean of the other three: 1 − (−1) = 2; −1 − (−1/3) = −2/3.
        let a = rloo.advantages(rewards: rewards, groupSize: 4)
        XCTAssertEqual(a[0], 2, accuracy: 1e-12)
        XCTAssertEqual(a[1], -2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(Array(a[4...]), [0, 0, 0, 0])
        let scaled = PolicyObjective(advantage: .groupMean, scaling: .group, reduction: .dapo).advantages(rewards: rewards, groupSize: 4)
        XCTAssertEqual(scaled[0], 1.5 / (1.0 + 1e-4), accuracy: 1e-12)   // group std (n − 1) = 1
        XCTAssertEqual(Array(scaled[4...]), [0, 0, 0, 0], "a flat group has no signal, scaled or not")
    }

    func testTokenWeightsFollowTheReduction() {
        let lengths = [2, 4, 6]
        func w(_ r: LossReduction, _ i: Int) -> Double {
            PolicyObjective(advantage: .rloo, scaling: .none, reduction: r)
                .tokenWeight(sequence: i, lengths: lengths, microBatch: [0, 1], maxCompletionLength: 10)
        }
        XCTAssertEqual(w(.grpo, 1), 1.0 / (4 * 3))
        XCTAssertEqual(w(.bnpo, 1), 1.0 / 6)
        XCTAssertEqual(w(.drGrpo, 1), 1.0 / 30)
        XCTAssertEqual(w(.dapo, 1), 1.0 / 12)
    }

    func testClippingCutsTheGradientOnlyOutsideTheTrustRegion() {
        let o = PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo, clipLow: 0.2, clipHigh: 0.2)
        let inside = o.tokenTerm(logProbability: log(1.1), oldLogProbability: 0, advantage: 1, referenceLogProbability: nil)
        XCTAssertFalse(inside.clipped)
        XCTAssertEqual(inside.derivative, -1.1, accuracy: 1e-12)
        let above = o.tokenTerm(logProbability: log(1.5), oldLogProbability: 0, advantage: 1, referenceLogProbability: nil)
        XCTAssertTrue(above.clipped)
        XCTAssertEqual(above.derivative, 0)
        XCTAssertEqual(above.value, -1.2, accuracy: 1e-12)
        // A negative advantage is clipped below 1 − ε, not above 1 + ε.
        XCTAssertFalse(o.tokenTerm(logProbability: log(1.5), oldLogProbability: 0, advantage: -1, referenceLogProbability: nil).clipped)
        XCTAssertTrue(o.tokenTerm(logProbability: log(0.5), oldLogProbability: 0, advantage: -1, referenceLogProbability: nil).clipped)
    }

    func testPresetsAndTemplates() throws {
        for name in PolicyObjective.presetNames { XCTAssertNotNil(PolicyObjective.preset(name), name) }
        XCTAssertEqual(PolicyObjective.preset("rloo"), PolicyObjective(advantage: .rloo, scaling: .none, reduction: .dapo))
        XCTAssertNil(PolicyObjective.preset("ppo"))
        XCTAssertEqual(try PromptTemplate.parse("Q: {prompt}\\nA:", chatTemplate: nil).render("2+2?"), "Q: 2+2?\\nA:")
        XCTAssertThrowsError(try PromptTemplate.parse("Q: {question}", chatTemplate: nil))
        let dir = NSTemporaryDirectory() + "template-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func auto() throws -> PromptTemplate { try PromptTemplate.parse("auto", system: "S", chatTemplate: try ModelSource(dir).chatTemplate()) }
        XCTAssertEqual(try auto(), .raw)
        // transformers 5 saves the template beside tokenizer_config.json.
        try "{{ '<|im_start|>' + message['role'] }}<|im_end|>".write(toFile: dir + "/chat_template.jinja", atomically: true, encoding: .utf8)
        XCTAssertEqual(try auto(), .chatml(system: "S"))
        try "{\"chat_template\": \"<|start_header_id|>{{ m }}<|end_header_id|><|eot_id|>\"}".write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try auto(), .llama3(system: "S"))
        try "{\"chat_template\": \"{% for m in messages %}...{% endfor %}\"}".write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try auto()) {
            XCTAssertTrue("\($0)".contains("tokenizer_config.json: carries a chat template") && "\($0)".contains("choose --template chatml"), "\($0)")
        }
        XCTAssertTrue(try PromptTemplate.parse("chatml", chatTemplate: nil).render("hi").hasSuffix("<|im_start|>assistant\n"))
    }

    func testRewards() {
        let p = Query(id: "p", prompt: "?", answer: "1000")
        XCTAssertEqual(ExactAnswerReward().score(completion: "so \\boxed{1,000}.", problem: p), 1)
        XCTAssertEqual(ExactAnswerReward().score(completion: "so \\boxed{999}.", problem: p), -1)
        XCTAssertEqual(ExactAnswerReward(correct: 1, incorrect: 0).score(completion: "no answer", problem: p), 0)
        XCTAssertEqual(FormatReward(bonus: 0.1).score(completion: "\\boxed{3}", problem: p), 0.1)
    }
}
