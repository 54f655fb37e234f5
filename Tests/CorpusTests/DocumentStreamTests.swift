import Corpus
import Foundation
import Model
import XCTest

final class DocumentStreamTests: XCTestCase {
    func testReadsJSONLAndTextFilesRecursivelyInPathOrder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        try "{\"id\": \"x\", \"text\": \"first\", \"source\": \"wiki\"}\n\n{\"text\": \"no id\"}\n"
            .write(toFile: dir + "/a.jsonl", atomically: true, encoding: .utf8)
        try "a whole file\nwith two lines".write(toFile: dir + "/b/c.txt", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: dir + "/b/notes.md", atomically: true, encoding: .utf8)
        let docs = try DocumentStream(path: dir).all()
        XCTAssertEqual(docs.map(\.text), ["first", "no id", "a whole file\nwith two lines"])
        XCTAssertEqual(docs.map(\.id), ["x", "a.jsonl:3", "b/c.txt"])
        XCTAssertEqual(docs.map(\.source), ["wiki", nil, nil])
        XCTAssertEqual(docs.map(\.index), [0, 1, 2])
        // A single file reads the same as it does inside a directory.
        XCTAssertEqual(try DocumentStream(path: dir + "/a.jsonl").all().map(\.id), ["x", "a.jsonl:3"])
    }

    func testWindowsLineEndings() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"id\": \"a\", \"text\": \"one\"}\r\n{\"id\": \"b\", \"text\": \"two\"}\r\n".write(toFile: dir + "/crlf.jsonl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try DocumentStream(path: dir).all().map(\.text), ["one", "two"])
        try "{\"id\": \"q\", \"prompt\": \"1+1\", \"answer\": \"2\"}\r\n{\"id\": \"r\", \"prompt\": \"2+2\", \"answer\": \"4\"}\r\n".write(toFile: dir + "/q.jsonl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Query.load(dir + "/q.jsonl", requiring: [.answer]).map(\.answer), ["2", "4"])
    }

    func testRequiredIDsAndSkippedLines() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{\"id\": \"a\", \"text\": \"fine\"}\n{\"text\": \"no id\"}\nnot json\n{\"id\": \"b\", \"text\": \"also fine\"}\n"
            .write(toFile: dir + "/d.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DocumentStream(path: dir, requireIDs: true).all()) {
            XCTAssertEqual("\($0)", "\(dir)/d.jsonl: line 2: missing string field \"id\"")
        }
        let skipping = try DocumentStream(path: dir, requireIDs: true, skipBad: true)
        XCTAssertEqual(try skipping.all().map(\.id), ["a", "b"])
        XCTAssertEqual(skipping.skipped, 2)
        XCTAssertThrowsError(try DocumentStream(path: dir + "/missing")) {
            XCTAssertEqual("\($0)", "\(dir)/missing: no such file or directory")
        }
    }
}

final class AnswerCheckerTests: XCTestCase {
    func testTakesTheLastBoxedAnswerWithMatchedBraces() {
        XCTAssertEqual(AnswerChecker.lastBoxed("first \\boxed{3}, then \\boxed{42}."), "42")
        XCTAssertEqual(AnswerChecker.lastBoxed("\\boxed{\\frac{1}{2}} done"), "\\frac{1}{2}")
        XCTAssertEqual(AnswerChecker.lastBoxed("\\boxed{7} and an unclosed \\boxed{8"), "7")
        XCTAssertNil(AnswerChecker.lastBoxed("no box here"))
        XCTAssertEqual(AnswerChecker.extract("work\n#### 1,250"), "1,250")
        XCTAssertEqual(AnswerChecker.extract("So 3 + 4 = 7. The answer is 7."), "7")
        XCTAssertEqual(AnswerChecker.extract("#### 5 but \\boxed{6}"), "6")
    }

    func testNumbersCompareByValue() {
        XCTAssertTrue(AnswerChecker.sameAnswer("1,000", "1000"))
        XCTAssertTrue(AnswerChecker.sameAnswer("0.50", "0.5"))
        XCTAssertTrue(AnswerChecker.sameAnswer("3/4", "0.75"))
        XCTAssertTrue(AnswerChecker.sameAnswer("\\frac{3}{4}", "0.75"))
        XCTAssertTrue(AnswerChecker.sameAnswer("$12.", "12"))
        XCTAssertTrue(AnswerChecker.sameAnswer("-6", "-6.0"))
        XCTAssertFalse(AnswerChecker.sameAnswer("12", "-12"))
        XCTAssertFalse(AnswerChecker.sameAnswer("1,00", "100"))   // not a thousands separator
        XCTAssertFalse(AnswerChecker.sameAnswer("1/0", "1"))
        XCTAssertTrue(AnswerChecker.sameAnswer(" Paris", "Paris"))
        // Fractions too large to compare exactly are not equal to anything (and do not trap).
        XCTAssertFalse(AnswerChecker.sameAnswer("3.14159265358/2.71828182845", "1"))
        XCTAssertNil(AnswerChecker.numericValue("999999999999999999/0.000000000000000001"))
    }

    func testAnswerPhraseTakesTheWholeNumber() {
        XCTAssertEqual(AnswerChecker.answerIsPhrase("So the answer is 3. The answer is 3.5."), "3.5")
        XCTAssertEqual(AnswerChecker.answerIsPhrase("The answer is 1,000."), "1,000")
        XCTAssertEqual(AnswerChecker.answerIsPhrase("The answer is: -12"), "-12")
        XCTAssertEqual(AnswerChecker.answerIsPhrase("The answer is 37."), "37")
        XCTAssertNil(AnswerChecker.answerIsPhrase("The answer is unknown."))
        XCTAssertFalse(AnswerChecker.sameAnswer(AnswerChecker.extract("The answer is 3.5.")!, "3"))
    }
}
