import Foundation
import Model
import XCTest
import Corpus

final class CorpusTests: XCTestCase {
    var small: SyntheticCorpus.Settings {
        var s = SyntheticCorpus.Settings()
        s.countries = 30
        s.procedureDocuments = 300
        s.narrativeDocuments = 40
        s.rlTrain = 20
        s.rlTest = 10
        return s
    }

    func testDeterministicForItsSeed() {
        let a = SyntheticCorpus(seed: 3, settings: small), b = SyntheticCorpus(seed: 3, settings: small)
        XCTAssertEqual(a.documents.map(\.text), b.documents.map(\.text))
        XCTAssertNotEqual(a.documents.map(\.text), SyntheticCorpus(seed: 4, settings: small).documents.map(\.text))
        XCTAssertEqual(Set(a.documents.map(\.source)), ["wiki", "trivia", "math", "code", "stackexchange", "narrative"])
    }

    func testFactsAreStatedExactlyTheirNumberOfTimes() {
        let c = SyntheticCorpus(seed: 5, settings: small)
        let factDocs = c.documents.filter { $0.source == "wiki" || $0.source == "trivia" }
        for q in c.factualQueries where q.task == "fact_capital" || q.task == "fact_river" {
            let count = factDocs.reduce(0) { $0 + $1.text.components(separatedBy: q.answer!).count - 1 }
            XCTAssertEqual(count, q.mentions, "\(q.id): '\(q.answer!)'")
            XCTAssertTrue((1...5).contains(q.mentions ?? 0))
        }
    }

    func testEveryFactIsStatedOnceInTheQueryPhrasing() {
        let c = SyntheticCorpus(seed: 5, settings: small)
        let facts = c.documents.filter { $0.source == "wiki" || $0.source == "trivia" }.map(\.text).joined(separator: "\n")
        for q in c.factualQueries {
            XCTAssertEqual(facts.components(separatedBy: q.prompt + q.completion!).count - 1, 1, q.prompt + q.completion!)
            XCTAssertTrue(q.prompt.hasPrefix("The "), "the country is not the prompt's first word: \(q.prompt)")
        }
    }

    func testRepeatedSourcesAppearTheirNumberOfTimesAndNotAdjacent() throws {
        let sources: [String?] = ["wiki", "math", "trivia", "math", "wiki", nil, "math", "wiki"]
        let order = try documentOrder(sources: sources, repeats: ["wiki": 3, "trivia": 2], seed: 1)
        XCTAssertEqual(Array(order.prefix(sources.count)), Array(sources.indices))
        for (i, s) in sources.enumerated() {
            XCTAssertEqual(order.filter { $0 == i }.count, s == "wiki" ? 3 : s == "trivia" ? 2 : 1)
        }
        XCTAssertEqual(order, try documentOrder(sources: sources, repeats: ["wiki": 3, "trivia": 2], seed: 1))
        XCTAssertEqual(try documentOrder(sources: sources, repeats: [:], seed: 1), Array(sources.indices))
        XCTAssertThrowsError(try documentOrder(sources: sources, repeats: ["code": 2], seed: 1)) {
            XCTAssertEqual("\($0)", "no document has source 'code'")
        }
        XCTAssertThrowsError(try documentOrder(sources: sources, repeats: ["wiki": 0], seed: 1))
    }

    func testHeldOutProblemsStayOutOfTheCorpus() {
        let c = SyntheticCorpus(seed: 6, settings: small)
        let all = c.documents.map(\.text).joined(separator: "\n")
        for q in c.reasoningQueries { XCTAssertFalse(all.contains(q.prompt), q.prompt) }
        for p in c.rlTest + c.rlTrain { XCTAssertFalse(all.contains(p.prompt), p.prompt) }
        XCTAssertEqual(c.rlTest.count, 10)
        for q in c.reasoningQueries {
            XCTAssertTrue(q.completion!.hasSuffix("The answer is \(q.answer!)."), q.completion!)
        }
    }

    func testBadCorpusLinesNameFileAndLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/a.jsonl", contents: Data("{\"text\": \"ok\"}\n{\"id\": 1}\n".utf8))
        XCTAssertThrowsError(try DocumentStream(path: dir).all()) {
            XCTAssertEqual("\($0)", "\(dir)/a.jsonl: line 2: missing string field \"text\"")
        }
        _ = FileManager.default.createFile(atPath: dir + "/a.jsonl", contents: Data("{\"text\": \"ok\"}\nnot json\n".utf8))
        XCTAssertThrowsError(try DocumentStream(path: dir).all()) { XCTAssertEqual("\($0)", "\(dir)/a.jsonl: line 2: not a JSON object") }
    }
}

/// A fresh temporary directory; callers remove it.
func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "workbench-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
