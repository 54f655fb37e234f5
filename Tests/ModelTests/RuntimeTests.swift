import Foundation
import Model
import XCTest
import Formats

final class BLASRuntimeTests: XCTestCase {
    let avx512 = BLASRuntime.CPUFeatures(avx2: true, avx512f: true, avx512bw: true, avx512vl: true)
    let avx2 = BLASRuntime.CPUFeatures(avx2: true, avx512f: false, avx512bw: false, avx512vl: false)
    let old = BLASRuntime.CPUFeatures(avx2: false, avx512f: false, avx512bw: false, avx512vl: false)

    func testKernelChoice() {
        XCTAssertEqual(BLASRuntime.preferredCoreType(current: "Prescott", cpu: avx512), "SkylakeX")
        XCTAssertEqual(BLASRuntime.preferredCoreType(current: "Haswell", cpu: avx512), "SkylakeX")
        XCTAssertNil(BLASRuntime.preferredCoreType(current: "SkylakeX", cpu: avx512))
        XCTAssertNil(BLASRuntime.preferredCoreType(current: "Cooperlake", cpu: avx512))
        XCTAssertEqual(BLASRuntime.preferredCoreType(current: "Prescott", cpu: avx2), "Haswell")
        XCTAssertNil(BLASRuntime.preferredCoreType(current: "Zen", cpu: avx2))
        XCTAssertNil(BLASRuntime.preferredCoreType(current: "Prescott", cpu: old))
    }

    func testCPUFlagsParsing() {
        let info = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512_bf16\nbugs\t: none\n"
        XCTAssertEqual(BLASRuntime.cpuFeatures(cpuinfo: info), avx512)
        XCTAssertEqual(BLASRuntime.cpuFeatures(cpuinfo: "flags : sse2 avx avx2\n"), avx2)
        XCTAssertFalse(BLASRuntime.coreName.isEmpty)
    }

    func testSgemmRowMajor() {
        // [2x3] · [3x2]
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        sgemm(m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [58, 64, 139, 154])
    }
}

final class SkinnyGemmTests: XCTestCase {
    /// Each few-row kernel this CPU has against sgemm on awkward shapes: row counts below
    /// and above a register block, k not a multiple of the vector width, n not a multiple
    /// of the tile, rows and columns past one cache block, with and without accumulation.
    func testMatchesSgemm() throws {
        try XCTSkipUnless(SkinnyGemm.isAvailable, "no AVX2/AVX-512 on this CPU")
        var rng = SeededGenerator(seed: 11)
        let shapes = [(1, 33, 517), (3, 64, 300), (4, 896, 129), (5, 100, 1000), (8, 257, 258), (16, 1031, 67),
                      (32, 576, 190), (47, 1536, 101), (64, 7, 4099)]
        let kernels = SkinnyGemm.Kernel.allCases.filter { SkinnyGemm.isAvailable($0) }
        for (m, k, n) in shapes {
            let x = (0..<(m * k)).map { _ in rng.nextUnitFloat() - 0.5 }
            let w = (0..<(n * k)).map { _ in rng.nextUnitFloat() - 0.5 }
            let start = (0..<(m * n)).map { _ in rng.nextUnitFloat() }
            for accumulate in [false, true] {
                var expected = start
                sgemm(transB: true, m: m, n: n, k: k, a: x, lda: k, b: w, ldb: k, beta: accumulate ? 1 : 0, c: &expected, ldc: n)
                for kernel in [nil] + kernels.map(Optional.some) {
                    var got = start
                    let ran = SkinnyGemm.run(x, rows: m, weight: w, inFeatures: k, outFeatures: n, into: &got,
                                             accumulate: accumulate, kernel: kernel)
                    XCTAssertTrue(ran, "shape \(m)×\(k)×\(n) should use the kernel")
                    let diff = zip(expected, got).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(diff, 1e-4, "m=\(m) k=\(k) n=\(n) accumulate=\(accumulate) kernel=\(String(describing: kernel))")
                }
            }
        }
        var y: [Float] = [0]
        let tooMany = SkinnyGemm.maxRows + 1
        XCTAssertFalse(SkinnyGemm.run([1], rows: tooMany, weight: [1], inFeatures: 1, outFeatures: 1, into: &y, accumulate: false),
                       "more than maxRows rows go to BLAS")
    }
}

final class SamplingTests: XCTestCase {
    func row(_ v: [Float], _ body: (UnsafeBufferPointer<Float>) -> Int) -> Int { v.withUnsafeBufferPointer(body) }

    func testGreedyAndTruncation() {
        var rng = SeededGenerator(seed: 1)
        let logits: [Float] = [0.1, 2.5, 2.5, -1, 0.3]
        XCTAssertEqual(row(logits) { TokenDistribution.argmax($0) }, 1, "ties go to the first index like torch.argmax")
        for _ in 0..<50 {
            XCTAssertEqual(row(logits) { TokenDistribution.sample($0, options: SamplingOptions(temperature: 1, topK: 1), rng: &rng) }, 1)
            let nucleus = row(logits) { TokenDistribution.sample($0, options: SamplingOptions(temperature: 1, topP: 0.6), rng: &rng) }
            XCTAssertTrue(nucleus == 1 || nucleus == 2, "top-p 0.6 keeps only the two tied leaders")
        }
    }

    func testSampledFrequenciesFollowSoftmax() {
        var rng = SeededGenerator(seed: 9)
        let logits: [Float] = [0, Float(log(3.0))]  // p = [0.25, 0.75]
        var ones = 0
        let n = 20_000
        for _ in 0..<n { ones += row(logits) { TokenDistribution.sample($0, options: SamplingOptions(temperature: 1), rng: &rng) } }
        XCTAssertEqual(Double(ones) / Double(n), 0.75, accuracy: 0.015)
        // Temperature 0.5 sharpens: p ∝ [1, 9] → 0.9.
        ones = 0
        for _ in 0..<n { ones += row(logits) { TokenDistribution.sample($0, options: SamplingOptions(temperature: 0.5), rng: &rng) } }
        XCTAssertEqual(Double(ones) / Double(n), 0.9, accuracy: 0.015)
    }

    func testInvalidOptions() {
        XCTAssertThrowsError(try SamplingOptions(temperature: -1).validate())
        XCTAssertThrowsError(try SamplingOptions(topP: 0).validate())
        XCTAssertThrowsError(try SamplingOptions(topK: -2).validate())
    }

    func testEOSStopsASequence() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let free = try m.generate(prompts: [[3, 4, 5]], options: GenerationOptions(maxNewTokens: 6))
        let eos = free.tokens[0][2]
        let stopped = try m.generate(prompts: [[3, 4, 5]], options: GenerationOptions(maxNewTokens: 6, stopTokens: [eos]))
        let firstEOS = free.tokens[0].firstIndex(of: eos)!
        XCTAssertEqual(stopped.tokens[0], Array(free.tokens[0][...firstEOS]))
        XCTAssertEqual(stopped.stopped, [true])
    }

    /// Sequences that stop early are dropped from the batch and its KV cache as generation goes
    /// on; every sequence still gets what it gets when generated alone.
    func testFinishedSequencesLeaveTheBatchWithoutChangingTheOthers() throws {
        let m = try Fixtures.model("llama_gqa_llama3rope")
        let stops = Set(stride(from: 0, to: m.config.vocabSize, by: 3))   // about a third of the tokens stop
        let prompts = (0..<16).map { i in (0..<(2 + i % 5)).map { (i * 7 + $0 * 3) % m.config.vocabSize } }
        let seeds = (0..<16).map { UInt64(100 + $0) }
        func options(_ seeds: [UInt64]) -> GenerationOptions {
            GenerationOptions(maxNewTokens: 12, sampling: SamplingOptions(temperature: 1), stopTokens: stops,
                              sequenceSeeds: seeds, returnLogProbabilities: true)
        }
        let together = try m.generate(prompts: prompts, options: options(seeds))
        let lengths = together.tokens.map(\.count)
        XCTAssertGreaterThanOrEqual(lengths.filter { $0 <= 3 }.count, 4, "enough sequences stop early to be dropped: \(lengths)")
        XCTAssertTrue(lengths.contains { $0 > 6 }, "some sequences go on after the others are dropped: \(lengths)")
        for i in prompts.indices {
            let alone = try m.generate(prompts: [prompts[i]], options: options([seeds[i]]))
            XCTAssertEqual(together.tokens[i], alone.tokens[0], "sequence \(i)")
            XCTAssertEqual(together.stopped[i], alone.stopped[0], "sequence \(i)")
            for (a, b) in zip(together.logProbabilities[i], alone.logProbabilities[0]) {
                XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "sequence \(i)")
            }
        }
    }
}

final class HDF5Tests: XCTestCase {
    func testRoundTripAndAtomicWrite() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/result.h5"
        let big = (0..<100_000).map { Float($0) * 0.5 }
        do {
            let w = try HDF5Writer(path: path)
            try w.writeFloats("small", shape: [2, 3], [1, 2, 3, 4, 5, 6])
            try w.writeFloats("group/big", shape: [1000, 100], big)
            try w.writeInt32("ids", shape: [3], [7, -1, 2_000_000_000])
            try w.writeStrings("names", ["plain", "ünïcødé ✓", ""])
            try w.setAttribute("note", .string("héllo"))
            try w.setAttribute("count", .int(42))
            try w.setAttribute("scale", .double(0.125), on: "/small")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing under the real name before commit")
            try w.commit()
        }
        let r = try HDF5Reader(path: path)
        XCTAssertEqual(try r.readFloats("small").shape, [2, 3])
        XCTAssertEqual(try r.readFloats("small").values, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try r.readFloats("group/big").values, big)
        XCTAssertEqual(try r.readInts("ids").values, [7, -1, 2_000_000_000])
        XCTAssertEqual(try r.readStrings("names"), ["plain", "ünïcødé ✓", ""])
        XCTAssertEqual(try r.stringAttribute("note"), "héllo")
        XCTAssertEqual(try r.numberAttribute("count"), 42)
        XCTAssertEqual(try r.numberAttribute("scale", of: "/small"), 0.125)
        XCTAssertNil(try r.stringAttribute("absent"))
        XCTAssertFalse(r.contains("nope/deeper"))
        XCTAssertThrowsError(try r.readFloats("nope")) { XCTAssertTrue("\($0)".contains("no dataset 'nope'")) }

        // An abandoned writer leaves no file and no temporary behind.
        let abandoned = dir + "/abandoned.h5"
        do {
            let w = try HDF5Writer(path: abandoned)
            try w.writeFloats("x", shape: [1], [1])
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertFalse(left.contains { $0.hasPrefix("abandoned") }, "left behind: \(left)")
    }

    func testProvenanceAttributes() throws {
        let m = try Fixtures.model("llama_sharded")
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try HDF5Writer(path: dir + "/p.h5")
        try Provenance(model: m, commandLine: ["workbench", "forward", "--ids", "1 2"]).write(to: w)
        try w.commit()
        let r = try HDF5Reader(path: dir + "/p.h5")
        XCTAssertEqual(try r.stringAttribute("command_line"), "workbench forward --ids '1 2'")
        XCTAssertEqual(try r.stringAttribute("tool_version"), WorkbenchVersion.current)
        XCTAssertEqual(try r.stringAttribute("model_hash"), m.fingerprint)
        XCTAssertNotEqual(m.fingerprint, try Fixtures.model("llama_gqa_llama3rope").fingerprint)
        XCTAssertNotNil(try r.stringAttribute("created"))
        XCTAssertTrue(try r.stringAttribute("model_dir")!.hasSuffix("llama_sharded"))
    }
}

final class WorkerPoolTests: XCTestCase {
    /// Runs a region over `count` items big enough to go to the pool and returns how often
    /// each item was visited.
    private func visits(_ count: Int) -> [Int] {
        var seen = [Int](repeating: 0, count: count)
        seen.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!   // chunks are disjoint: no two threads write one entry
            Parallel.forEachChunk(count, costPerItem: 1 << 20) { range in
                for i in range { base[i] += 1 }
            }
        }
        return seen
    }

    func testEveryItemOnceAcrossManyRegions() {
        for count in [1, 2, 3, 7, 64, 1001] {
            XCTAssertEqual(visits(count), [Int](repeating: 1, count: count), "count \(count)")
        }
        // Back-to-back regions while the pool threads spin, then after they have gone to sleep.
        for _ in 0..<20_000 where visits(5) != [1, 1, 1, 1, 1] { return XCTFail("a region lost or repeated an item") }
        for _ in 0..<5 {
            usleep(2_000)
            XCTAssertEqual(visits(9), [Int](repeating: 1, count: 9))
        }
    }

    func testNestedRegionsRunInline() {
        var inner = [Int](repeating: 0, count: 4 * 100)
        inner.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEachChunk(4, costPerItem: 1 << 20) { outer in
                for o in outer {
                    Parallel.forEachChunk(100, costPerItem: 1 << 20) { range in
                        for i in range { base[o * 100 + i] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(inner, [Int](repeating: 1, count: 400))
    }

    func testRegionsFromSeveralThreadsAtOnce() {
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        failures.initialize(repeating: 0, count: 4)
        defer { failures.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<500 where visits(3 + round % 50) != [Int](repeating: 1, count: 3 + round % 50) {
                failures[caller] += 1
            }
        }
        XCTAssertEqual((0..<4).map { failures[$0] }, [0, 0, 0, 0])
    }
}
