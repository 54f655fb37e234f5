import Foundation

/// Which rows of a residual-stream matrix an intervention edits. Evaluated per call from
/// each row's RoPE position (its index among the sequence's real tokens) and its sequence's
/// prompt length, so the same selection picks the same tokens in a full forward pass, in
/// cached generation (decode steps hold no prompt positions) and in training.
public enum RowSelection: Sendable, Equatable {
    /// Every real row: prompt and generated tokens alike.
    case all
    /// The first n prompt positions of each sequence (fewer when the prompt is shorter).
    case firstPrompt(Int)
    /// The last n prompt positions of each sequence.
    case lastPrompt(Int)
    /// These positions of each sequence, prompt or not.
    case positions([Int])
    /// ReFT's positions (methods.md §4): the first p and the last s prompt positions, the
    /// counts clamped for a prompt of n tokens as the paper states, p ← min(p, ⌊n/2⌋) and
    /// s ← min(s, ⌈n/2⌉), so the two groups never overlap. Either count may be 0.
    case promptEnds(first: Int, last: Int)

    /// The selected rows of one call, in row order.
    public func rows(in layout: RowLayout) -> [Int] {
        var out: [Int] = []
        for r in 0..<layout.rows where layout.isReal[r] {
            let p = layout.positions[r], prompt = layout.promptLengths[r / layout.length]
            let chosen: Bool
            switch self {
            case .all: chosen = true
            case .firstPrompt(let n): chosen = p < min(n, prompt)
            case .lastPrompt(let n): chosen = p < prompt && p >= prompt - n
            case .positions(let list): chosen = list.contains(p)
            case .promptEnds(let first, let last):
                chosen = p < min(first, prompt / 2) || (p < prompt && p >= prompt - min(last, (prompt + 1) / 2))
            }
            if chosen { out.append(r) }
        }
        return out
    }
}

/// The selected rows handed to an intervention, packed: row i of its matrices is row
/// `indices[i]` of the call's [rows, d] residual matrix.
public struct SelectedRows {
    public let indices: [Int]
    public let layout: RowLayout
    public var count: Int { indices.count }
}

/// An edit of the residual stream h_r with a backward pass (methods.md §4 notation): the
/// forward pass maps the selected rows x to Φ(x); the backward pass receives the same x
/// (recorded by the forward pass) and dL/dΦ, writes dL/dx = Jᵀ dL/dΦ and adds the
/// gradients of its own parameters. Rows it does not select pass through unchanged.
/// Several interventions at one site apply in the order they were added.
public protocol ResidualIntervention: AnyObject {
    var selection: RowSelection { get }
    /// y ← Φ(x) for the packed rows ([rows.count, width]); x and y do not overlap.
    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: SelectedRows, width: Int) throws
    /// dx ← Jᵀ dy for the packed rows, and parameter gradients added.
    func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>, rows: SelectedRows, width: Int) throws
}

/// h ← h + v on the selected rows, with v a trainable parameter (a steering vector when
/// the selection is every row). Jacobian: the identity; dL/dv = Σ_selected dL/dh.
public final class VectorAddition: ResidualIntervention {
    public let vector: Parameter
    public let selection: RowSelection

    public init(_ vector: Parameter, selection: RowSelection = .all) {
        precondition(vector.value.shape.count == 1, "a vector addition needs a [d] parameter")
        self.vector = vector
        self.selection = selection
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        guard vector.value.count == d else {
            throw WorkbenchError("\(vector.name) has \(vector.value.count) values, the model's width is \(d)")
        }
        let v = vector.value.data
        for r in 0..<rows.count { for i in 0..<d { y[r * d + i] = x[r * d + i] + v[i] } }
    }

    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        dx.update(from: dy, count: rows.count * d)
        let g = vector.gradient.mutableData
        for r in 0..<rows.count { for i in 0..<d { g[i] += dy[r * d + i] } }
    }
}

/// Fixed edits for reading experiments, as interventions over every row. `.addVector` and
/// `.add` pass gradients through unchanged, `.replace` stops them; `.custom` closures are
/// forward-only and a backward pass through one is an error.
public enum ResidualEdit {
    /// h_r ← h_r + v at every row (v has d values).
    case addVector([Float])
    /// h_r ← h_r + V with V of shape [batchSize, length, d].
    case add(Tensor)
    /// h_r ← V with V of shape [batchSize, length, d].
    case replace(Tensor)
    /// Arbitrary in-place edit of the [rows, d] matrix.
    case custom((UnsafeMutablePointer<Float>, RowLayout) -> Void)
}

/// A `ResidualEdit` applied as an intervention over every row of the call.
final class FixedEdit: ResidualIntervention {
    let edit: ResidualEdit
    init(_ edit: ResidualEdit) { self.edit = edit }
    var selection: RowSelection { .all }

    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        let n = rows.count * d
        y.update(from: x, count: n)
        switch edit {
        case .addVector(let v):
            guard v.count == d else { throw WorkbenchError("steering vector has \(v.count) values, the model's width is \(d)") }
            for r in 0..<rows.count { for i in 0..<d { y[r * d + i] += v[i] } }
        case .add(let t), .replace(let t):
            // The tensor covers every row of the call, padding included.
            guard t.count == rows.layout.rows * d else {
                throw WorkbenchError("residual edit has \(t.count) values, expected \(rows.layout.rows * d)")
            }
            for (i, r) in rows.indices.enumerated() {
                let src = t.data + r * d, dst = y + i * d
                if case .add = edit { for j in 0..<d { dst[j] += src[j] } } else { dst.update(from: src, count: d) }
            }
        case .custom(let f):
            // The closure sees the whole [rows, d] matrix: unpack, edit, repack.
            let full = Tensor(zeros: [rows.layout.rows, d])
            for (i, r) in rows.indices.enumerated() { (full.mutableData + r * d).update(from: y + i * d, count: d) }
            f(full.mutableData, rows.layout)
            for (i, r) in rows.indices.enumerated() { (y + i * d).update(from: full.data + r * d, count: d) }
        }
    }

    func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        switch edit {
        case .addVector, .add: dx.update(from: dy, count: rows.count * d)
        case .replace: dx.update(repeating: 0, count: rows.count * d)
        case .custom:
            throw WorkbenchError("a custom residual edit is forward-only: it has no backward pass (write a ResidualIntervention)")
        }
    }
}
