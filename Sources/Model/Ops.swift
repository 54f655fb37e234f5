import CKernels
import Foundation

/// Element-wise and row-wise kernels of the forward pass, over flat row-major
/// buffers. Each splits its rows across cores with `Parallel`.
package enum Ops {
    /// RMSNorm: y = x / sqrt(mean(x²) + eps) ⊙ γ, row by row ([rows, d]).
    package static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, width d: Int,
                               eps: Float, into y: UnsafeMutablePointer<Float>) {
        Parallel.forEachChunk(rows, costPerItem: d) { range in
            for r in range {
                let xr = x + r * d, yr = y + r * d
                var sum: Float = 0
                for i in 0..<d { sum += xr[i] * xr[i] }
                let scale = 1 / (sum / Float(d) + eps).squareRoot()
                for i in 0..<d { yr[i] = weight[i] * (xr[i] * scale) }
            }
        }
    }

    /// Backward of `rmsNorm` for y = x · r ⊙ γ with r = 1/√(mean(x²) + eps):
    /// dx (+)= r γ⊙dy − x r³/d · Σ_j dy_j γ_j x_j per row; dγ += Σ_rows dy ⊙ x r.
    package static func rmsNormBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                                       rows: Int, width d: Int, eps: Float, inputGradient dx: UnsafeMutablePointer<Float>,
                                       accumulate: Bool, weightGradient: UnsafeMutablePointer<Float>?) {
        // γ's gradient: one partial sum per chunk, added in chunk order (deterministic).
        let lock = NSLock()
        var partials: [Int: [Float]] = [:]
        Parallel.forEachChunk(rows, costPerItem: d * 2) { range in
            var localGamma = [Float](repeating: 0, count: weightGradient == nil ? 0 : d)
            for row in range {
                let xr = x + row * d, dyr = dy + row * d, dxr = dx + row * d
                var sumSquares: Float = 0, dot: Float = 0
                for i in 0..<d { sumSquares += xr[i] * xr[i]; dot += dyr[i] * weight[i] * xr[i] }
                let r = 1 / (sumSquares / Float(d) + eps).squareRoot()
                let coefficient = r * r * r / Float(d) * dot
                for i in 0..<d {
                    let g = r * weight[i] * dyr[i] - xr[i] * coefficient
                    dxr[i] = accumulate ? dxr[i] + g : g
                }
                if weightGradient != nil { for i in 0..<d { localGamma[i] += dyr[i] * xr[i] * r } }
            }
            if weightGradient != nil {
                lock.lock(); partials[range.lowerBound] = localGamma; lock.unlock()
            }
        }
        if let weightGradient {
            for start in partials.keys.sorted() { for i in 0..<d { weightGradient[i] += partials[start]![i] } }
        }
    }

    /// Rotate-half RoPE applied in place to `heads` vectors of size `headDim` per row.
    /// For pair i (i < headDim/2): (x_i, x_{i+half}) ← (x_i cos − x_{i+half} sin, x_{i+half} cos + x_i sin),
    /// angle = position × invFreq[i].
    /// `inverse` rotates by −angle: the backward pass (a rotation's transpose is its inverse).
    package static func applyRoPE(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int,
                                 positions: [Int], invFreq: [Float], inverse: Bool = false) {
        let half = headDim / 2
        let width = heads * headDim
        let table = RoPETable.covering(positions, invFreq: invFreq)
        let sign: Float = inverse ? -1 : 1
        Parallel.forEachChunk(rows, costPerItem: width * 4) { range in
            for r in range {
                let cosT = table.cos + positions[r] * half, sinT = table.sin + positions[r] * half
                for h in 0..<heads {
                    let v = x + r * width + h * headDim
                    for i in 0..<half {
                        let a = v[i], b = v[i + half], s = sign * sinT[i]
                        v[i] = a * cosT[i] - b * s
                        v[i + half] = b * cosT[i] + a * s
                    }
                }
            }
        }
        withExtendedLifetime(table) {}
    }

    /// SwiGLU: gate ← silu(gate) ⊙ up, with silu(z) = z / (1 + e^{−z}).
    package static func swiglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        Parallel.forEachChunk(count, costPerItem: 4) { range in
            wb_silu_mul(gate + range.lowerBound, up + range.lowerBound, range.count)
        }
    }

    /// SwiGLU backward for act = silu(g) ⊙ u given dL/dact: du = dact ⊙ silu(g);
    /// dg = dact ⊙ u ⊙ σ(g) (1 + g (1 − σ(g))).
    package static func swigluBackward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                       gateGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count, costPerItem: 8) { range in
            let o = range.lowerBound
            wb_silu_mul_backward(gate + o, up + o, outputGradient + o, gateGradient + o, upGradient + o, range.count)
        }
    }

    /// y += x, element-wise.
    package static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count) { range in
            for i in range { y[i] += x[i] }
        }
    }

    /// Numerically stable causal softmax of one attention row in place: entries
    /// 0...limit take part unless `isReal` marks them as padding; the others become 0.
    /// A row with nothing allowed is all 0.
    @inline(__always)
    package static func causalSoftmax(_ row: UnsafeMutablePointer<Float>, count: Int, limit: Int,
                              isReal: UnsafePointer<Bool>) {
        let n = min(limit + 1, count)
        var maxV = -Float.infinity
        for j in 0..<n {
            if isReal[j] { maxV = max(maxV, row[j]) } else { row[j] = -Float.infinity }
        }
        for j in n..<count { row[j] = 0 }
        if maxV == -Float.infinity {
            for j in 0..<n { row[j] = 0 }
            return
        }
        let sum = wb_exp_shifted_sum(row, n, maxV)   // exp(−∞) = 0 for padding
        let inv = 1 / sum
        for j in 0..<n { row[j] *= inv }
    }
}
