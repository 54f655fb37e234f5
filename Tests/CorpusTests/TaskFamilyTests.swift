import Corpus
import Foundation
import XCTest

/// The short-answer task families: answers right by construction, worked answers the reward
/// reads, train and test disjoint, the same files from the same seed.
final class TaskFamilyTests: XCTestCase {
    func testProblemsAreRightDisjointAndSeeded() throws {
        for family in TaskFamily.allCases {
            let problems = try TaskProblems(family: family, train: 300, test: 200, seed: 7)
            XCTAssertEqual(problems.test.count, 200, family.rawValue)
            XCTAssertEqual(problems.train.count, family == .multiplication ? 264 - 200 : 300, family.rawValue)
            let testQuestions = Set(problems.test.map(\.prompt))
            XCTAssertEqual(testQuestions.count, 200, "\(family.rawValue): test questions repeat")
            XCTAssertTrue(problems.train.allSatisfy { !testQuestions.contains($0.prompt) }, "\(family.rawValue): train meets test")
            for q in problems.train + problems.test {
                let answer = try XCTUnwrap(q.answer)
                XCTAssertEqual(Self.solve(q.prompt, family), Int(answer), "\(family.rawValue): \(q.prompt) → \(answer)")
                XCTAssertEqual(AnswerChecker.extract(q.completion ?? ""), answer, "the reward reads the worked answer: \(q.completion ?? "")")
                XCTAssertEqual(q.task, family.rawValue)
            }
            let again = try TaskProblems(family: family, train: 300, test: 200, seed: 7)
            XCTAssertEqual(again.train.map(\.prompt), problems.train.map(\.prompt))
            XCTAssertNotEqual(try TaskProblems(family: family, train: 0, test: 50, seed: 8).test.map(\.prompt),
                              Array(problems.test.prefix(50)).map(\.prompt), "another seed draws other problems")
        }
    }

    func testSmallFamiliesStopAtTheirSizeAndBadInputIsRefused() throws {
        // 2–12 × 2–9 in three phrasings: 264 distinct questions.
        let products = try TaskProblems(family: .multiplication, train: 1000, test: 200, seed: 0)
        XCTAssertEqual(products.test.count + products.train.count, 264)
        XCTAssertThrowsError(try TaskProblems(family: .multiplication, train: 0, test: 300, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("only 264 distinct questions"), "\(error)")
        }
        XCTAssertThrowsError(try TaskFamily.parseList("addition,divison")) { error in
            XCTAssertTrue("\(error)".contains("unknown task family 'divison'"), "\(error)")
        }
        XCTAssertEqual(try TaskFamily.parseList("all"), TaskFamily.allCases)
    }

    /// The answer recomputed from the question's text alone.
    static func solve(_ question: String, _ family: TaskFamily) -> Int? {
        let numbers = question.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        switch family {
        case .addition: return numbers[0] + numbers[1]
        case .subtraction: return question.contains("less than") ? numbers[1] - numbers[0] : numbers[0] - numbers[1]
        case .multiplication: return numbers[0] * numbers[1]
        case .comparison: return numbers.max()
        case .successor: return numbers[0] + 1
        case .wordCount:
            guard let open = question.firstIndex(of: "\""), let close = question.lastIndex(of: "\""), open < close else { return nil }
            return question[question.index(after: open)..<close].split(separator: " ").count
        }
    }
}
