import Formats
import Foundation

/// The layer × position heatmap of a lens run as a self-contained SVG:
/// rows are sites (final layer on top), columns are input positions, each cell
/// coloured by a metric and labelled with its top token.
public enum LensHeatmap {
    public enum Metric: String, CaseIterable, Sendable {
        /// Probability of the final layer's top token under the cell's distribution (0...1).
        case prob
        /// KL(final ‖ cell) in nats, scaled to the panel's largest value.
        case kl
    }

    /// One prompt's panel: the lens result with its strings already decoded.
    public struct Panel {
        public var title: String
        public var result: LogitLensResult
        /// Input tokens as text, one per position.
        public var inputTokens: [String]
        /// The top token of each cell as text, [site][position].
        public var topTokens: [[String]]
        /// `show` turns a token id into the text drawn in the heatmap.
        public init(title: String, result: LogitLensResult, show: (Int) -> String) {
            self.title = title; self.result = result
            inputTokens = result.tokens.map(show)
            topTokens = result.topIDs.map { $0.map { show($0[0]) } }
        }
    }

    static let cellWidth = 64, cellHeight = 22, labelWidth = 100, headerHeight = 44, footerHeight = 52

    public static func svg(panels: [Panel], metric: Metric) -> String {
        var body = ""
        var y = 10, width = 0
        for panel in panels {
            let (fragment, size) = render(panel, metric: metric, top: y)
            body += fragment
            y += size.height + 20
            width = max(width, size.width)
        }
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width + 20)" height="\(y)" font-family="monospace" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        \(body)</svg>

        """
    }

    static func render(_ panel: Panel, metric: Metric, top: Int) -> (String, (width: Int, height: Int)) {
        let r = panel.result
        let S = r.siteCount, T = r.tokens.count
        let values = metric == .prob ? r.finalTopProbability : r.klToFinal
        let scale = metric == .prob ? 1 : max(values.flatMap { $0 }.max() ?? 1, 1e-6)
        let left = 10 + labelWidth, gridTop = top + headerHeight
        var s = "<g>\n<text x=\"10\" y=\"\(top + 14)\" font-size=\"13\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
        // Column headers: the input tokens.
        for t in 0..<T {
            let x = left + t * cellWidth + cellWidth / 2
            s += "<text x=\"\(x)\" y=\"\(gridTop - 6)\" text-anchor=\"middle\">\(escape(clip(panel.inputTokens[t])))</text>\n"
        }
        for (row, site) in (0..<S).reversed().enumerated() {
            let y = gridTop + row * cellHeight
            let label = site == S - 1 ? "\(r.sites[site]) (final)" : "\(r.sites[site])"
            s += "<text x=\"10\" y=\"\(y + 15)\">\(escape(label))</text>\n"
            for t in 0..<T {
                let v = Double(values[site][t]) / Double(scale)
                let x = left + t * cellWidth
                let fill = colour(min(max(v, 0), 1))
                let ink = v > 0.55 ? "white" : "black"
                let tip = String(format: metric == .prob ? "p(final top) = %.3f" : "KL = %.3f nats", values[site][t])
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cellWidth - 1)\" height=\"\(cellHeight - 1)\" fill=\"\(fill)\"><title>\(escape(panel.topTokens[site][t])) — \(tip)</title></rect>\n"
                s += "<text x=\"\(x + cellWidth / 2)\" y=\"\(y + 15)\" text-anchor=\"middle\" fill=\"\(ink)\">\(escape(clip(panel.topTokens[site][t])))</text>\n"
            }
        }
        let legendY = gridTop + S * cellHeight + 18
        let legend = metric == .prob
            ? "colour: probability of the final layer's top token (white 0 → blue 1)"
            : String(format: "colour: KL(final ‖ layer) in nats (white 0 → blue %.3g)", scale)
        s += "<text x=\"10\" y=\"\(legendY)\">\(escape(legend))</text>\n"
        s += "<text x=\"10\" y=\"\(legendY + 14)\">label: the cell's top token; rows: sites, final layer on top</text>\n</g>\n"
        return (s, (max(left + T * cellWidth, 560), headerHeight + S * cellHeight + footerHeight))
    }

    /// White (0) to dark blue (1).
    static func colour(_ v: Double) -> String {
        let (r, g, b) = (255 - 247 * v, 255 - 207 * v, 255 - 148 * v)
        return String(format: "#%02x%02x%02x", Int(r), Int(g), Int(b))
    }

    static func clip(_ s: String) -> String { s.count > 8 ? String(s.prefix(7)) + "…" : s }

    static func escape(_ s: String) -> String { markupEscaped(s) }
}
