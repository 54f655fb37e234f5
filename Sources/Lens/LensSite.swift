import Model

/// Where the lens reads the residual stream (methods.md notation: h_0 is the
/// embedding output, h_{l+1} the output of block l).
public enum LensSite: Hashable, Sendable, CustomStringConvertible {
    /// h_0, the embedding output (the same vector as `.pre(0)`).
    case embedding
    /// h_l, entering block l.
    case pre(Int)
    /// Inside block l, after the attention sublayer and before the MLP.
    case mid(Int)
    /// h_{l+1}, the output of block l.
    case post(Int)

    /// Which of the three places per block to read (`--sites pre,mid,post`).
    public enum Kind: String, CaseIterable, Sendable { case pre, mid, post }

    /// Sites in depth order. Post-only reading (the default) starts with the
    /// embedding so that there are L + 1 rows; with `pre` the embedding is `0.pre`.
    public static func list(kinds: Set<Kind>, layerCount: Int) -> [LensSite] {
        var sites: [LensSite] = kinds.contains(.pre) ? [] : [.embedding]
        for l in 0..<layerCount {
            if kinds.contains(.pre) { sites.append(.pre(l)) }
            if kinds.contains(.mid) { sites.append(.mid(l)) }
            if kinds.contains(.post) { sites.append(.post(l)) }
        }
        return sites
    }

    /// The residual index r of h_r this site reads, or nil inside a block.
    public var residualIndex: Int? {
        switch self {
        case .embedding: return 0
        case .pre(let l): return l
        case .mid: return nil
        case .post(let l): return l + 1
        }
    }

    public var description: String {
        switch self {
        case .embedding: return "embed"
        case .pre(let l): return "\(l).pre"
        case .mid(let l): return "\(l).mid"
        case .post(let l): return "\(l).post"
        }
    }
}
