import CLICommon
import Foundation
import Model

extension Bench {
    /// The model's linear products at decoding-sized row counts, through the few-row
    /// kernel and through OpenBLAS's sgemm: where `SkinnyGemm.maxRows` comes from.
    func runProducts() throws {
        let config = try openModel(model).model.config
        let d = config.hiddenSize, kv = config.kvWidth
        let shapes = [("q/o", d, config.queryWidth), ("k/v", d, kv), ("gate/up", d, config.intermediateSize),
                      ("down", config.intermediateSize, d), ("unembed", d, config.vocabSize)]
        let rowCounts = [8, 16, 32, 48, 64, 96, 128, 256]
        var rng = SeededGenerator(seed: 5)
        var rows: [(String, String)] = [("BLAS kernel", BLASRuntime.coreName)]
        var records: [String] = []
        for (name, inFeatures, outFeatures) in shapes {
            let w = (0..<(inFeatures * outFeatures)).map { _ in rng.nextUnitFloat() - 0.5 }
            var line: [String] = []
            for m in rowCounts {
                let x = (0..<(m * inFeatures)).map { _ in rng.nextUnitFloat() - 0.5 }
                var y = [Float](repeating: 0, count: m * outFeatures)
                let flop = 2 * Double(m * inFeatures * outFeatures)
                let skinny = bestRate(flop: flop) {
                    _ = SkinnyGemm.run(x, rows: m, weight: w, inFeatures: inFeatures, outFeatures: outFeatures,
                                       into: &y, accumulate: false, rowLimit: .max)
                }
                let blas = bestRate(flop: flop) {
                    sgemmParallel(transB: true, m: m, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                                  b: w, ldb: inFeatures, c: &y, ldc: outFeatures)
                }
                line.append(String(format: "%d: %.0f/%.0f", m, skinny, blas))
                records.append(String(format: "{\"product\": \"%@\", \"in\": %d, \"out\": %d, \"rows\": %d, \"kernel_gflops\": %.1f, \"sgemm_gflops\": %.1f}",
                                      name, inFeatures, outFeatures, m, skinny, blas))
            }
            rows.append(("\(name) \(inFeatures)→\(outFeatures)", line.joined(separator: "  ")))
        }
        if json {
            print("[" + records.joined(separator: ", ") + "]")
        } else {
            rows.append(("", "rows: few-row kernel / sgemm, GFLOP/s (best of \(max(1, repeats)))"))
            printTable(rows)
        }
    }

    /// GFLOP/s of the fastest of `repeats` runs after one warm-up.
    private func bestRate(flop: Double, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let t0 = Date()
            body()
            best = min(best, Date().timeIntervalSince(t0))
        }
        return flop / best / 1e9
    }
}
