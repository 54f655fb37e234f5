import Model

/// The ReFT interventions of methods.md §4, named as pyreft names them. Each is
/// Φ(h) = h + Pᵀ z(h) with P [r, d] and z(h) = (W h + b or b) − (P h or 0):
public enum ReFTKind: String, Sendable, Codable, CaseIterable {
    /// h + Rᵀ(W h + b − R h), R with orthonormal rows.
    case loreft
    /// h + W2ᵀ(W1 h + b − W2 h): LoReFT without orthogonality.
    case noreft
    /// h + Rᵀ(W h + b), R orthonormal (pyreft's DireftIntervention).
    case direft
    /// h + W2ᵀ(W1 h + b): DiReFT as the paper defines it (pyreft's NodireftIntervention).
    case nodireft
    /// h + Rᵀ(b − R h): the memorisation test's bias-only form.
    case consreft
    /// h + Rᵀ b.
    case lobireft

    /// Whether P's rows are kept orthonormal (QR retraction after every update).
    public var orthonormal: Bool { self != .noreft && self != .nodireft }
    /// Whether z has a learned projection W h (else only the bias b).
    public var hasSource: Bool { self != .consreft && self != .lobireft }
    /// Whether z subtracts P h (the edit replaces the subspace's content rather than adding to it).
    public var subtractsProjection: Bool { self == .loreft || self == .noreft || self == .consreft }
}

/// One ReFT intervention at one residual site, on the rows its selection picks. For the packed
/// rows x [n, d]: z = x Wᵀ + b − x Pᵀ (the parts its kind has), y = x + z P. Backward with
/// g = dL/dy and dz = g Pᵀ: dx = g + dz W − dz P, dW += dzᵀ x, db += Σ dz, and
/// dP += zᵀ g − dzᵀ x (the last term when z subtracts P h).
public final class LowRankIntervention: ResidualIntervention {
    public let kind: ReFTKind
    public let selection: RowSelection
    /// P [r, d]: R (orthonormal rows) or W2.
    public let projection: Parameter
    /// W [r, d] (kinds with a learned source).
    public let source: Parameter?
    /// b [r].
    public let bias: Parameter

    public init(kind: ReFTKind, selection: RowSelection, projection: Parameter, source: Parameter?, bias: Parameter) {
        precondition(kind.hasSource == (source != nil), "\(kind.rawValue) \(kind.hasSource ? "needs" : "has no") W")
        self.kind = kind; self.selection = selection
        self.projection = projection; self.source = source; self.bias = bias
        activeRows = 0..<projection.value.shape[0]
    }

    public var rank: Int { projection.value.shape[0] }

    /// The rows of P, W and b that act (and train): a subspace of the intervention, for the
    /// composition experiment (methods.md §4: halves of one subspace trained on two behaviours).
    /// Rows outside it are neither applied nor changed; all of them by default.
    public var activeRows: Range<Int>

    /// P, W and b restricted to the active rows: r_a rows starting at row `activeRows.lowerBound`.
    private var active: (r: Int, p: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>?, b: UnsafeMutablePointer<Float>,
                         dp: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>) {
        let d = projection.value.shape[1], lo = activeRows.lowerBound
        return (activeRows.count, projection.value.mutableData + lo * d, source.map { $0.value.mutableData + lo * d },
                bias.value.mutableData + lo, projection.gradient.mutableData + lo * d, source.map { $0.gradient.mutableData + lo * d },
                bias.gradient.mutableData + lo)
    }

    /// z = x Wᵀ + b − x Pᵀ for the packed rows, [n, r_a].
    func latent(_ x: UnsafePointer<Float>, rows n: Int, width d: Int) -> [Float] {
        let a = active, r = a.r
        var z = [Float](repeating: 0, count: n * r)
        for i in 0..<n { for j in 0..<r { z[i * r + j] = a.b[j] } }
        if let w = a.w {
            sgemm(transB: true, m: n, n: r, k: d, a: x, lda: d, b: w, ldb: d, beta: 1, c: &z, ldc: r)
        }
        if kind.subtractsProjection {
            sgemm(transB: true, m: n, n: r, k: d, alpha: -1, a: x, lda: d, b: a.p, ldb: d, beta: 1, c: &z, ldc: r)
        }
        return z
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        guard projection.value.shape == [rank, d] else {
            throw WorkbenchError("\(projection.name) is \(projection.value.shape), the model's width is \(d)")
        }
        let n = rows.count, a = active
        let z = latent(x, rows: n, width: d)
        y.update(from: x, count: n * d)
        sgemm(m: n, n: d, k: a.r, a: z, lda: a.r, b: a.p, ldb: d, beta: 1, c: y, ldc: d)
    }

    public func backward(_ x: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>, rows: SelectedRows, width d: Int) throws {
        let n = rows.count, a = active, r = a.r
        let z = latent(x, rows: n, width: d)
        var dz = [Float](repeating: 0, count: n * r)
        sgemm(transB: true, m: n, n: r, k: d, a: g, lda: d, b: a.p, ldb: d, c: &dz, ldc: r)
        dx.update(from: g, count: n * d)
        if let w = a.w, let dw = a.dw {
            sgemm(m: n, n: d, k: r, a: dz, lda: r, b: w, ldb: d, beta: 1, c: dx, ldc: d)
            sgemm(transA: true, m: r, n: d, k: n, a: dz, lda: r, b: x, ldb: d, beta: 1, c: dw, ldc: d)
        }
        sgemm(transA: true, m: r, n: d, k: n, a: z, lda: r, b: g, ldb: d, beta: 1, c: a.dp, ldc: d)
        if kind.subtractsProjection {
            sgemm(m: n, n: d, k: r, alpha: -1, a: dz, lda: r, b: a.p, ldb: d, beta: 1, c: dx, ldc: d)
            sgemm(transA: true, m: r, n: d, k: n, alpha: -1, a: dz, lda: r, b: x, ldb: d, beta: 1, c: a.dp, ldc: d)
        }
        for i in 0..<n { for j in 0..<r { a.db[j] += dz[i * r + j] } }
    }
}
