import Formats
import Foundation

/// One self-contained HTML page: inline CSS, inline SVG, no script, font or request of any
/// kind. Hover details are `title` attributes (the browser's own tooltip), so the page reads
/// the same without JavaScript.
struct HTMLPage {
    var title: String
    var sections: [String] = []

    func render() -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>\(Self.style)</style>
        </head>
        <body>
        <h1>\(escape(title))</h1>
        \(sections.joined(separator: "\n"))
        </body>
        </html>

        """
    }

    static let style = """
    body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1b1f24;
           margin: 24px auto; max-width: 1180px; padding: 0 16px; background: #fff; }
    h1 { font-size: 22px; margin: 0 0 16px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
    h3 { font-size: 15px; margin: 20px 0 6px; } p.note { color: #57606a; margin: 4px 0 12px; }
    table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
    th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; }
    .charts { display: flex; flex-wrap: wrap; gap: 12px; } svg.chart { border: 1px solid #d0d7de; background: #fff; }
    svg text { font: 11px system-ui, sans-serif; fill: #1b1f24; }
    table.grid td.cell { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; min-width: 56px; max-width: 96px; overflow: hidden;
                         white-space: nowrap; text-overflow: ellipsis; border-color: #fff; }
    table.grid th { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
    .doc { font: 13px/1.7 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; word-break: break-word;
           border: 1px solid #d0d7de; padding: 8px; margin: 6px 0 14px; max-height: 260px; overflow: auto; }
    .tok { border-radius: 2px; } .legend span { display: inline-block; padding: 0 6px; margin-right: 8px; border-radius: 2px; }
    .prompt { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; background: #f6f8fa; padding: 6px 8px; }
    code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa; padding: 1px 4px; }
    """
}

/// Text for HTML content and attribute values (line breaks kept: documents are shown with theirs).
func escape(_ text: String) -> String { markupEscaped(text, keepingLineBreaks: true) }

/// A colour `amount` (0…1, clipped; NaN as 0) of the way from white to `rgb`, as CSS.
func tint(_ amount: Double, _ rgb: (Double, Double, Double)) -> String {
    let a = min(max(amount.isFinite ? amount : 0, 0), 1)
    let c = [rgb.0, rgb.1, rgb.2].map { Int((255 + ($0 - 255) * a).rounded()) }
    return "rgb(\(c[0]),\(c[1]),\(c[2]))"
}

/// The report's colours: blue for probability and positive values, orange for negative, red for KL.
let blue = (9.0, 105.0, 218.0), orange = (212.0, 92.0, 0.0), red = (207.0, 34.0, 46.0)

/// A table with a header row; cells are HTML already (escape text first). Cells that look
/// like numbers are right-aligned.
func htmlTable(_ header: [String], _ rows: [[String]], cssClass: String? = nil) -> String {
    var s = "<table\(cssClass.map { " class=\"\($0)\"" } ?? "")><tr>" + header.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
    for row in rows {
        s += "<tr>" + row.map { cell in
            let numeric = Double(cell.trimmingCharacters(in: CharacterSet(charactersIn: "+−-%× "))) != nil
            return numeric ? "<td class=\"num\">\(cell)</td>" : "<td>\(cell)</td>"
        }.joined() + "</tr>\n"
    }
    return s + "</table>"
}

/// A number with `digits` decimals, "–" for NaN.
func formatted(_ x: Double, _ digits: Int = 3) -> String {
    x.isNaN ? "–" : String(format: "%.\(digits)f", x)
}
