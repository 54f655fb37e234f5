import CKernels
import Foundation
import Model
import XCTest

/// The vectorised exp behind softmax and SwiGLU against libm, over the whole range
/// the forward pass feeds it (including underflow to exactly 0). Each test runs once per
/// instruction set the kernels can use (AVX-512, AVX2, scalar), as far as the CPU has them.
final class VectorMathTests: XCTestCase {
    private func forEachInstructionSet(_ body: () -> Void) {
        for isa in [WB_ISA_AVX512, WB_ISA_AVX2, WB_ISA_SCALAR] {
            let previous = wb_vector_math_limit_isa(Int32(isa))
            body()
            _ = wb_vector_math_limit_isa(previous)
        }
    }

    func testShiftedExpSumMatchesLibm() { forEachInstructionSet(checkShiftedExpSum) }
    func testSwiGLUMatchesDefinition() { forEachInstructionSet(checkSwiGLU) }
    func testSwiGLUBackwardAndSumOfSquares() { forEachInstructionSet(checkSwiGLUBackwardAndSumOfSquares) }

    private func checkShiftedExpSum() {
        var x: [Float] = stride(from: -100, through: 20, by: 0.37).map { Float($0) } + [-.infinity, 0, 1e-8]
        let shift: Float = 3.5
        let expected = x.map { exp($0 - shift) }
        let sum = wb_exp_shifted_sum(&x, x.count, shift)
        for (got, want) in zip(x, expected) {
            if want < 1e-37 { XCTAssertLessThan(got, 1e-30) } else { XCTAssertEqual(got, want, accuracy: 3e-7 * want) }
        }
        XCTAssertEqual(sum, expected.reduce(0, +), accuracy: 1e-6 * expected.reduce(0, +))
        XCTAssertEqual(x[x.count - 3], 0, "exp(-inf) is exactly 0 (padding)")
    }

    private func checkSwiGLU() {
        let g: [Float] = stride(from: -30, through: 30, by: 0.13).map { Float($0) }
        let up = g.indices.map { Float(sin(Double($0))) }
        var gate = g
        gate.withUnsafeMutableBufferPointer { gp in
            up.withUnsafeBufferPointer { Ops.swiglu(gate: gp.baseAddress!, up: $0.baseAddress!, count: g.count) }
        }
        for i in g.indices {
            let want = g[i] / (1 + exp(-g[i])) * up[i]
            XCTAssertEqual(gate[i], want, accuracy: 1e-6 * max(1, abs(want)))
        }
    }

    private func checkSwiGLUBackwardAndSumOfSquares() {
        let n = 53
        let g = (0..<n).map { Float($0) * 0.37 - 9 }, u = (0..<n).map { Float(cos(Double($0))) }
        let da = (0..<n).map { Float(sin(Double($0) * 0.7)) }
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        wb_silu_mul_backward(g, u, da, &dg, &du, n)
        for i in 0..<n {
            let s = 1 / (1 + exp(-g[i]))
            XCTAssertEqual(du[i], da[i] * g[i] * s, accuracy: 1e-5 * max(1, abs(du[i])))
            XCTAssertEqual(dg[i], da[i] * u[i] * s * (1 + g[i] * (1 - s)), accuracy: 1e-5 * max(1, abs(dg[i])))
        }
        XCTAssertEqual(wb_sum_squares(g, n), g.reduce(0.0) { $0 + Double($1) * Double($1) }, accuracy: 1e-9)
    }

    func testCausalSoftmaxSkipsPaddingAndFuture() {
        var row: [Float] = [1, 2, 3, 4, 5]
        let real: [Bool] = [true, false, true, true, true]
        row.withUnsafeMutableBufferPointer { r in
            real.withUnsafeBufferPointer { Ops.causalSoftmax(r.baseAddress!, count: 5, limit: 2, isReal: $0.baseAddress!) }
        }
        let z = exp(Float(1)) + exp(Float(3))
        XCTAssertEqual(row[0], exp(1) / z, accuracy: 1e-6)
        XCTAssertEqual(row[1], 0)
        XCTAssertEqual(row[2], exp(3) / z, accuracy: 1e-6)
        XCTAssertEqual(Array(row[3...]), [0, 0])
    }
}
