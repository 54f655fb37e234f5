import Foundation

/// An inline SVG line chart with axes, ticks, axis labels (units in the label) and an optional
/// shaded band per series (mean ± std, min–max). Each point carries a `title` with its values.
struct LineChart {
    struct Series {
        var name: String
        var x: [Double]
        var y: [Double]
        /// (low, high) per point, drawn as a shaded band.
        var band: [(Double, Double)]? = nil
        var color: String = "#0969da"
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 360.0, height = 220.0

    func svg() -> String {
        let left = 58.0, right = 12.0, top = 26.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap(\.x).filter(\.isFinite)
        var ys = series.flatMap(\.y).filter(\.isFinite)
        ys += series.flatMap { $0.band?.flatMap { [$0.0, $0.1] } ?? [] }.filter(\.isFinite)
        var s = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<text x=\"\(Int(width / 2))\" y=\"16\" text-anchor=\"middle\" font-weight=\"600\">\(escape(title))</text>"
        guard let x0 = xs.min(), let x1 = xs.max(), let y0raw = ys.min(), let y1raw = ys.max() else {
            return s + "<text x=\"\(Int(width / 2))\" y=\"\(Int(height / 2))\" text-anchor=\"middle\">no data</text></svg>"
        }
        // A constant series gets a range around its value (± half of it, or 0…1 for 0).
        let pad = y1raw > y0raw ? 0 : (y0raw == 0 ? 1 : abs(y0raw) / 2)
        let yTicks = niceTicks(y0raw - (y0raw == 0 ? 0 : pad), y1raw + pad)
        let y0 = yTicks.first!, y1 = yTicks.last!
        let xTicks = niceTicks(x0, x1 == x0 ? x0 + 1 : x1, count: 6).filter { $0 >= x0 && $0 <= max(x1, x0 + 1) }
        let xSpan = max(x1 - x0, 1e-12), ySpan = max(y1 - y0, 1e-12)
        func px(_ x: Double) -> Double { left + (x - x0) / xSpan * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y - y0) / ySpan * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        // Grid and ticks.
        for t in yTicks {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#eaeef2\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(tickLabel(t, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1))</text>"
        }
        for t in xTicks {
            s += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#57606a\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(tickLabel(t, step: xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1))</text>"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#57606a\"/>"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(13 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        // Bands, lines, points.
        for series in self.series {
            let count = min(series.x.count, series.y.count, series.band?.count ?? .max)
            let points = (0..<count).filter { series.x[$0].isFinite && series.y[$0].isFinite }
            if let band = series.band, !points.isEmpty {
                let upper = points.map { "\(f(px(series.x[$0]))),\(f(py(band[$0].1)))" }
                let lower = points.reversed().map { "\(f(px(series.x[$0]))),\(f(py(band[$0].0)))" }
                s += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(series.color)\" fill-opacity=\"0.15\" stroke=\"none\"/>"
            }
            let path = points.map { "\(f(px(series.x[$0]))),\(f(py(series.y[$0])))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.8\"/>"
            for i in points where points.count <= 200 {
                var tip = "\(series.name): \(xLabel.components(separatedBy: " (").first ?? xLabel) \(tickLabel(series.x[i], step: 1)), \(formatted(series.y[i], 4))"
                if let band = series.band { tip += " (\(formatted(band[i].0, 4)) to \(formatted(band[i].1, 4)))" }
                s += "<circle cx=\"\(f(px(series.x[i])))\" cy=\"\(f(py(series.y[i])))\" r=\"2.6\" fill=\"\(series.color)\"><title>\(escape(tip))</title></circle>"
            }
        }
        if series.count > 1 {
            var lx = left + 6
            for series in self.series {
                s += "<rect x=\"\(f(lx))\" y=\"\(f(top + 5))\" width=\"10\" height=\"3\" fill=\"\(series.color)\"/>"
                s += "<text x=\"\(f(lx + 13))\" y=\"\(f(top + 10))\">\(escape(series.name))</text>"
                lx += 20 + Double(series.name.count) * 6.2
            }
        }
        return s + "</svg>"
    }
}

/// A histogram of `values` in `bins` equal bins, as an SVG bar chart with axes.
struct Histogram {
    var title: String
    var xLabel: String
    var values: [Double]
    var bins = 30
    var width = 420.0, height = 220.0

    func svg() -> String {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else {
            return LineChart(title: title, xLabel: xLabel, yLabel: "documents", series: []).svg()
        }
        let span = hi > lo ? hi - lo : 1
        var counts = [Double](repeating: 0, count: bins)
        for v in finite { counts[min(bins - 1, Int((v - lo) / span * Double(bins)))] += 1 }
        let left = 58.0, right = 12.0, top = 26.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let yTicks = niceTicks(0, max(counts.max() ?? 1, 1))
        let yMax = yTicks.last!
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<text x=\"\(Int(width / 2))\" y=\"16\" text-anchor=\"middle\" font-weight=\"600\">\(escape(title))</text>"
        for t in yTicks {
            let y = top + plotH - t / yMax * plotH
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#eaeef2\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(tickLabel(t, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1))</text>"
        }
        let barW = plotW / Double(bins)
        for (i, c) in counts.enumerated() where c > 0 {
            let h = c / yMax * plotH
            let from = lo + span * Double(i) / Double(bins), to = lo + span * Double(i + 1) / Double(bins)
            s += "<rect x=\"\(f(left + Double(i) * barW + 0.5))\" y=\"\(f(top + plotH - h))\" width=\"\(f(max(barW - 1, 0.5)))\" height=\"\(f(h))\" fill=\"#0969da\">"
                + "<title>\(Int(c)) in [\(String(format: "%.3g", from)), \(String(format: "%.3g", to)))</title></rect>"
        }
        let xTicks = niceTicks(lo, hi > lo ? hi : lo + 1, count: 5)
        for t in xTicks where t >= lo && t <= hi {
            let x = left + (t - lo) / span * plotW
            s += "<line x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#57606a\"/>"
            s += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(tickLabel(t, step: xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1))</text>"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#57606a\"/>"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(13 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">documents</text>"
        return s + "</svg>"
    }
}

/// About `count` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi].
func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
    let raw = (hi - lo) / Double(max(count - 1, 1))
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = floor(lo / step) * step
    var ticks: [Double] = []
    var t = first
    while t <= hi + step * 0.5 && ticks.count < 50 {
        ticks.append(abs(t) < step * 1e-9 ? 0 : t)
        t += step
    }
    if ticks.last! < hi { ticks.append(t) }
    return ticks
}

/// A tick's label with as many decimals as its step needs (1e-4 and below in exponent form).
func tickLabel(_ v: Double, step: Double) -> String {
    if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e5) { return String(format: "%.0e", v) }
    let decimals = max(0, min(6, Int(-floor(log10(abs(step) > 0 ? abs(step) : 1)))))
    return String(format: "%.\(decimals)f", v)
}
