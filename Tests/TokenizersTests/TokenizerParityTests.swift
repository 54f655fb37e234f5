import Foundation
import Model
import XCTest
import Tokenizers

/// Hugging Face `tokenizers` parity (scripts/make_tokenizer_fixtures.py): every case of
/// cases.json must give exactly the library's ids (with and without special tokens)
/// and its decoded text, for every fixture tokenizer.
final class TokenizerParityTests: XCTestCase {
    static let directory = TokenizerFixtures.directory

    struct Expected: Decodable {
        var ids: [Int]
        var tokens: [String]
        var ids_no_special: [Int]
        var decoded: String
        var decoded_skip: String
        var decoded_each: [String]
    }

    struct Manifest: Decodable {
        struct Entry: Decodable { var name: String; var tokenizer: String; var expected: String }
        var tokenizers: [Entry]
    }

    func sameScalars(_ a: [String], _ b: [String]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.unicodeScalars.elementsEqual($1.unicodeScalars) }
    }

    func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/" + name))
        return try JSONDecoder().decode(T.self, from: data)
    }

    func testEveryFixtureTokenizerMatchesTheLibrary() throws {
        let cases = try load([String].self, "cases.json")
        let manifest = try load(Manifest.self, "manifest.json")
        XCTAssertGreaterThanOrEqual(manifest.tokenizers.count, 6)
        var failures = 0
        for entry in manifest.tokenizers {
            let tok = try Tokenizer.load(path: Self.directory + "/" + entry.tokenizer)
            let expected = try load([Expected].self, entry.expected)
            XCTAssertEqual(expected.count, cases.count, entry.name)
            for (text, want) in zip(cases, expected) {
                let ids = tok.encode(text)
                let plain = tok.encode(text, addSpecialTokens: false)
                // The library's tokens for added tokens are the matched text (with any
                // whitespace lstrip/rstrip swallowed): compare the model's tokens only.
                let modelTokens = zip(ids, tok.tokens(ids)).filter { !tok.isAdded($0.0) }.map(\.1)
                let wantTokens = zip(want.ids, want.tokens).filter { !tok.isAdded($0.0) }.map(\.1)
                let each = ids.map { tok.decode([$0]) }
                // Strings compare scalar by scalar: String's == would accept NFC for NFD.
                let ok = ids == want.ids && plain == want.ids_no_special && sameScalars(modelTokens, wantTokens)
                    && sameScalars([tok.decode(ids)], [want.decoded])
                    && sameScalars([tok.decode(ids, skipSpecialTokens: true)], [want.decoded_skip])
                    && sameScalars(each, want.decoded_each)
                if !ok {
                    failures += 1
                    if failures <= 12 {
                        XCTFail("""
                        \(entry.name) \(String(reflecting: text).prefix(80)):
                          ids \(ids == want.ids ? "ok" : "\(ids) ≠ \(want.ids)")
                          no-special \(plain == want.ids_no_special ? "ok" : "\(plain) ≠ \(want.ids_no_special)")
                          decoded \(tok.decode(ids) == want.decoded ? "ok" : "\(String(reflecting: tok.decode(ids))) ≠ \(String(reflecting: want.decoded))")
                          tokens \(modelTokens == wantTokens ? "ok" : "\(modelTokens) ≠ \(wantTokens)")
                          each \(each == want.decoded_each ? "ok" : "\(each) ≠ \(want.decoded_each)")
                          decoded_skip \(tok.decode(ids, skipSpecialTokens: true) == want.decoded_skip ? "ok" : "\(String(reflecting: tok.decode(ids, skipSpecialTokens: true))) ≠ \(String(reflecting: want.decoded_skip))")
                        """)
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0, "cases that differ from the library")
    }
}
