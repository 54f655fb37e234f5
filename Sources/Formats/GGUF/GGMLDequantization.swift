import Foundation
import Model

/// Block dequantisation of the GGML types in `GGMLType.readable`, bit-identical to the
/// `gguf` Python package's `gguf.quants.dequantize` (and so to ggml's own `dequantize_row_*`):
/// each value is formed with the same float32 operations in the same order, products and
/// sums rounded one at a time (Swift does not fuse them into FMAs). Blocks are independent,
/// so a tensor is split across the cores by blocks.
///
/// Layouts (bytes, in file order; `f16` is an IEEE half, scales `d`/`dmin` of a block):
///   Q8_0  d:f16 q[32]:i8                         x = q·d
///   Q4_0  d:f16 qs[16]                           x = d·(nibble − 8)      value j: low nibble of qs[j], value 16+j: high
///   Q4_1  d:f16 m:f16 qs[16]                     x = d·nibble + m
///   Q5_0  d:f16 qh:u32 qs[16]                    x = d·(nibble | bit_i(qh)<<4 − 16)
///   Q5_1  d:f16 m:f16 qh:u32 qs[16]              x = d·(nibble | bit_i(qh)<<4) + m
///   Q2_K  scales[16] qs[64] d dmin               x = (d·(sc&15))·q − dmin·(sc>>4), q 2 bits
///   Q3_K  hmask[32] qs[64] scales[12] d          x = (d·(s6 − 32))·(q2 − 4·¬hbit)
///   Q4_K  d dmin scales[12] qs[128]              x = (d·sc6)·nibble − dmin·m6
///   Q5_K  d dmin scales[12] qh[32] qs[128]       x = (d·sc6)·(nibble | hbit<<4) − dmin·m6
///   Q6_K  ql[128] qh[64] scales[16]:i8 d         x = (d·sc)·((4 bits | 2 bits<<4) − 32)
enum GGMLDequantization {
    /// Writes `count` float32 values decoded from `bytes` (a whole tensor of `type`) to `out`.
    static func dequantize(_ bytes: UnsafeRawBufferPointer, type: GGMLType, count: Int,
                           into out: UnsafeMutablePointer<Float>, tensor: String, path: String) throws {
        let (blockValues, blockBytes) = type.blockLayout
        precondition(count % blockValues == 0 && bytes.count == count / blockValues * blockBytes)
        guard let base = bytes.baseAddress else { return }
        let decode: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void
        switch type {
        case .f32:
            (UnsafeMutableRawPointer(out)).copyMemory(from: base, byteCount: 4 * count)
            return
        case .f16: decode = { p, o in o[0] = Float(Float16(bitPattern: p.loadUnaligned(as: UInt16.self))) }
        case .bf16: decode = { p, o in o[0] = Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16) }
        case .q8_0: decode = q8_0
        case .q4_0: decode = q4_0
        case .q4_1: decode = q4_1
        case .q5_0: decode = q5_0
        case .q5_1: decode = q5_1
        case .q2_K: decode = q2_K
        case .q3_K: decode = q3_K
        case .q4_K: decode = q4_K
        case .q5_K: decode = q5_K
        case .q6_K: decode = q6_K
        default:
            let names = GGMLType.readable.map(\.name).joined(separator: ", ")
            throw WorkbenchError("tensor '\(tensor)' is stored as \(type.name), which the workbench cannot dequantise (it reads \(names))", file: path)
        }
        let blocks = count / blockValues
        Parallel.forEachChunk(blocks, costPerItem: blockValues) { range in
            for b in range { decode(base + b * blockBytes, out + b * blockValues) }
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    static func q8_0(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for i in 0..<32 { o[i] = Float(Int8(bitPattern: byte(p, 2 + i))) * d }
    }

    static func q4_0(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            o[j] = d * Float(Int(q & 0x0F) - 8)
            o[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    static func q4_1(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            o[j] = d * Float(q & 0x0F) + m
            o[j + 16] = d * Float(q >> 4) + m
        }
    }

    static func q5_0(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let low = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let high = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            o[j] = d * Float(low - 16)
            o[j + 16] = d * Float(high - 16)
        }
    }

    static func q5_1(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let low = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let high = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            o[j] = d * Float(low) + m
            o[j + 16] = d * Float(high) + m
        }
    }

    /// Value e of a 256-value K block sits in half h = e / 128 and, within it, at
    /// (shift s = (e % 128) / 32, lane l = e % 32), reading byte h·32 + l of 2-bit fields.
    static func q2_K(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 80), dmin = half(p, 82)
        for e in 0..<256 {
            let (h, s, l) = (e / 128, (e % 128) / 32, e % 32)
            let q = (byte(p, 16 + h * 32 + l) >> UInt8(2 * s)) & 3
            let sc = byte(p, e / 16)
            let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
            o[e] = dl * Float(q) - ml
        }
    }

    static func q3_K(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 108)
        // 16 six-bit scales: low 4 bits from bytes 0-7 (low nibbles, then high nibbles),
        // high 2 bits from bytes 8-11 (bit pairs 0, 2, 4, 6 in turn).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { dl in
            for i in 0..<16 {
                let low = (byte(p, 96 + i % 8) >> UInt8(4 * (i / 8))) & 0x0F
                let high = (byte(p, 96 + 8 + i % 4) >> UInt8(2 * (i / 4))) & 0x03
                dl[i] = d * Float(Int(low | high << 4) - 32)
            }
            for e in 0..<256 {
                let (h, s, l) = (e / 128, (e % 128) / 32, e % 32)
                let q2 = Int((byte(p, 32 + h * 32 + l) >> UInt8(2 * s)) & 3)
                // The high bit subtracts 4 when it is clear.
                let hbit = Int((byte(p, l) >> UInt8(e / 32)) & 1)
                o[e] = dl[e / 16] * Float(q2 - ((hbit ^ 1) << 2))
            }
        }
    }

    /// The 8 six-bit scales and minimums of Q4_K and Q5_K, packed in 12 bytes at `at`.
    @inline(__always) static func scaleMin(_ p: UnsafeRawPointer, at: Int, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 { return (byte(p, at + j) & 0x3F, byte(p, at + 4 + j) & 0x3F) }
        let sc = (byte(p, at + 4 + j) & 0x0F) | ((byte(p, at + j - 4) >> 2) & 0x30)
        let m = (byte(p, at + 4 + j) >> 4) | ((byte(p, at + j) >> 2) & 0x30)
        return (sc, m)
    }

    static func q4_K(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        for j in 0..<8 {   // sub-block j: nibble j % 2 of bytes (j / 2)·32 ..< +32
            let (sc, m) = scaleMin(p, at: 4, j)
            let dd = d * Float(sc), dm = dmin * Float(m)
            for l in 0..<32 {
                let q = (byte(p, 16 + (j / 2) * 32 + l) >> UInt8(4 * (j % 2))) & 0x0F
                o[j * 32 + l] = dd * Float(q) - dm
            }
        }
    }

    static func q5_K(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        for j in 0..<8 {
            let (sc, m) = scaleMin(p, at: 4, j)
            let dd = d * Float(sc), dm = dmin * Float(m)
            for l in 0..<32 {
                let low = (byte(p, 48 + (j / 2) * 32 + l) >> UInt8(4 * (j % 2))) & 0x0F
                let high = (byte(p, 16 + l) >> UInt8(j)) & 1
                o[j * 32 + l] = dd * Float(low | high << 4) - dm
            }
        }
    }

    static func q6_K(_ p: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for e in 0..<256 {
            let (h, r) = (e / 128, e % 128)
            let low = (byte(p, h * 64 + r % 64) >> UInt8(4 * (r / 64))) & 0x0F
            let high = (byte(p, 128 + h * 32 + r % 32) >> UInt8(2 * (r / 32))) & 0x03
            let dd = d * Float(Int8(bitPattern: byte(p, 192 + e / 16)))
            o[e] = dd * Float(Int(low | high << 4) - 32)
        }
    }
}
