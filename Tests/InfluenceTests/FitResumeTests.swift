import Foundation
import Influence
import Model
import XCTest

/// A fit interrupted in either pass and run again from its checkpoint writes the same bits
/// as an uninterrupted fit; a checkpoint from other inputs is refused.
final class FitResumeTests: XCTestCase {
    static let model = try! TransformerModel.load(directory: DefaultModel.directory)
    let sequences: [[Int]] = (0..<7).map { i in (0..<(5 + 3 * i)).map { ($0 * 37 + i * 11) % 300 + 3 } } + [[]] + [[9, 8, 7, 6]]

    struct Interrupted: Error {}

    /// Fits over `sequences`; the `stopAfter`-th sequence handed to the fit (counting both
    /// passes) throws instead of returning, as a kill right after a checkpoint would.
    func fit(checkpoints: FitCheckpoints?, stopAfter: Int? = nil) throws -> EKFACFactors {
        var handed = 0
        return try EKFACFactors.fit(model: Self.model, sequences: { body in
            for (i, s) in sequences.enumerated() {
                if let stopAfter, handed == stopAfter { throw Interrupted() }
                handed += 1
                guard try body(i, s) else { return }
            }
        }, modules: TrackedModule.select("model.layers.0.mlp.down_proj,model.layers.1.self_attn.q_proj", model: Self.model),
           options: EKFACFactors.Options(), checkpoints: checkpoints)
    }

    func assertSameBits(_ a: EKFACFactors, _ b: EKFACFactors, _ message: String) {
        XCTAssertEqual(a.tokenCount, b.tokenCount, message)
        XCTAssertEqual(a.sequenceCount, b.sequenceCount, message)
        for (x, y) in zip(a.modules, b.modules) {
            XCTAssertEqual(x.qa.map(\.bitPattern), y.qa.map(\.bitPattern), "\(message): \(x.module.name) Q_A")
            XCTAssertEqual(x.qs.map(\.bitPattern), y.qs.map(\.bitPattern), "\(message): \(x.module.name) Q_S")
            XCTAssertEqual(x.eigenvaluesA.map(\.bitPattern), y.eigenvaluesA.map(\.bitPattern), "\(message): \(x.module.name) eigenvalues of A")
            XCTAssertEqual(x.lambda.map(\.bitPattern), y.lambda.map(\.bitPattern), "\(message): \(x.module.name) Λ")
        }
    }

    func testInterruptedFitsResumeToTheSameBits() throws {
        let dir = NSTemporaryDirectory() + "fit-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reference = try fit(checkpoints: nil)
        // 9 sequences per pass (one empty): stops in pass 1 (after 1, 4, 8 sequences), at the
        // start of pass 2 (9: only the checkpoint saved between the passes) and in it (9 + 3, 9 + 8).
        for stop in [1, 4, 8, 9, 12, 17] {
            let path = dir + "/stop\(stop).partial.h5"
            let checkpoints = FitCheckpoints(path: path, runKey: "key", interval: 0)
            XCTAssertThrowsError(try fit(checkpoints: checkpoints, stopAfter: stop)) { XCTAssert($0 is Interrupted) }
            XCTAssert(FileManager.default.fileExists(atPath: path), "stop \(stop): a checkpoint was saved")
            let resumed = try fit(checkpoints: checkpoints)
            assertSameBits(reference, resumed, "stopped after \(stop) sequences")
        }
        // A checkpoint made with other inputs or options is not resumed.
        let path = dir + "/other.partial.h5"
        XCTAssertThrowsError(try fit(checkpoints: FitCheckpoints(path: path, runKey: "one", interval: 0), stopAfter: 5))
        XCTAssertThrowsError(try fit(checkpoints: FitCheckpoints(path: path, runKey: "another", interval: 0))) { error in
            XCTAssert("\(error)".contains("other inputs or options"), "\(error)")
        }
    }
}
