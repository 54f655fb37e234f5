import Foundation
import Lens
import Model
import XCTest

/// The lens against PyTorch + transformers (scripts/make_lens_fixtures.py →
/// Fixtures/lens_golden.json): top-k ids and probabilities, entropy, KL to the final
/// layer and the target's numbers at every post-block and mid-block site, and the
/// three `lens inspect` readings over the whole vocabulary.
/// Tolerances: probabilities 1e-5 absolute, entropy and KL 1e-4 nats, log-probabilities
/// 1e-4, inspect scores 1e-4 × the largest |score|; ids and ranks exactly.
final class LensParityTests: XCTestCase {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let golden: [String: Any] = {
        let data = try! Data(contentsOf: here.appendingPathComponent("Fixtures/lens_golden.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func model(_ name: String) throws -> TransformerModel {
        try TransformerModel.load(directory: here.deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/\(name)").path)
    }

    func compare(_ result: LogitLensResult, sites: [Int], with ref: [String: Any], _ label: String) {
        let topIDs = ref["top_ids"] as! [[[Int]]], topProbs = ref["top_probs"] as! [[[Double]]]
        let entropy = ref["entropy"] as! [[Double]], kl = ref["kl_to_final"] as! [[Double]]
        let tp = ref["target_prob"] as! [[Double]], tlp = ref["target_logprob"] as! [[Double]]
        let rank = ref["target_rank"] as! [[Int]]
        XCTAssertEqual(sites.count, topIDs.count, label)
        for (i, s) in sites.enumerated() {
            for t in 0..<result.tokens.count {
                let where_ = "\(label) site \(result.sites[s]) position \(t)"
                XCTAssertEqual(result.topIDs[s][t], topIDs[i][t], where_)
                for (p, q) in zip(result.topProbabilities[s][t], topProbs[i][t]) { XCTAssertEqual(Double(p), q, accuracy: 1e-5, where_) }
                XCTAssertEqual(Double(result.entropy[s][t]), entropy[i][t], accuracy: 1e-4, where_)
                XCTAssertEqual(Double(result.klToFinal[s][t]), kl[i][t], accuracy: 1e-4, where_)
                XCTAssertEqual(Double(result.targetProbability![s][t]), tp[i][t], accuracy: 1e-5, where_)
                XCTAssertEqual(Double(result.targetLogProbability![s][t]), tlp[i][t], accuracy: 1e-4, where_)
                XCTAssertEqual(result.targetRank![s][t], rank[i][t], where_)
            }
        }
    }

    func testLogitLensMatchesPyTorch() throws {
        for (name, value) in Self.golden {
            let g = value as! [String: Any]
            let m = try Self.model(name)
            let tokens = g["tokens"] as! [Int]
            let options = LogitLensOptions(k: g["k"] as! Int, target: g["target"] as? Int, siteKinds: [.mid, .post])
            let result = try LogitLensRun.run(model: m, tokens: tokens, options: options)
            let L = m.config.layerCount
            // Sites in depth order: embed, 0.mid, 0.post, 1.mid, 1.post, ...
            XCTAssertEqual(result.sites, [.embedding] + (0..<L).flatMap { [LensSite.mid($0), .post($0)] })
            compare(result, sites: [0] + (0..<L).map { 2 * $0 + 2 }, with: g["post"] as! [String: Any], "\(name) post")
            compare(result, sites: (0..<L).map { 2 * $0 + 1 }, with: g["mid"] as! [String: Any], "\(name) mid")
        }
    }

    func testInspectReadingsMatchDirectProduct() throws {
        for (name, value) in Self.golden {
            let g = (value as! [String: Any])["inspect"] as! [String: Any]
            let m = try Self.model(name)
            let vectors = (g["vectors"] as! [[Double]]).map { $0.map(Float.init) }
            let V = m.config.vocabSize
            let result = VectorInspection.inspect(vectors, model: m, k: V)
            for (pi, projection) in LensProjection.allCases.enumerated() {
                let ref = g[projection.rawValue] as! [[Double]]
                for row in 0..<vectors.count {
                    let scale = ref[row].map(abs).max()!
                    let reading = result.readings[row][pi]
                    XCTAssertEqual(reading.projection, projection)
                    XCTAssertEqual(reading.promoted.count, V)
                    for token in reading.promoted {
                        XCTAssertEqual(Double(token.score), ref[row][token.id], accuracy: 1e-4 * scale, "\(name) \(projection) token \(token.id)")
                    }
                    let best = ref[row].indices.max { ref[row][$0] < ref[row][$1] }!
                    XCTAssertEqual(reading.promoted[0].id, best, "\(name) \(projection) top token")
                }
            }
        }
    }
}
