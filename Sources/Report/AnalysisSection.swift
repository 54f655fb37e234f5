import Formats
import Foundation
import Model

/// An `influence analyze` file: the report `influence analyze` wrote beside it (ANALYSIS.md,
/// the five findings with the paper's numbers beside ours), rendered as HTML; and the query ×
/// query correlation of the documents' scores as a coloured matrix from analysis.h5.
struct AnalysisSection {
    let path: String

    static func matches(_ reader: HDF5Reader) -> Bool { reader.contains("task_correlation") && reader.contains("query_tasks") }

    func html() throws -> String {
        let h5 = try HDF5Reader(path: path)
        var s = "<section class=\"analysis\"><h2>Influence analysis: \(escape(path))</h2>"
        let markdownPath = (path as NSString).deletingPathExtension + ".md"
        if let data = try? readFile(markdownPath) {
            s += Self.markdownToHTML(String(decoding: data, as: UTF8.self), skipTitle: true)
        } else {
            s += "<p class=\"note\">No \(escape(markdownPath)) beside the file (influence analyze writes it).</p>"
        }
        let tasks = try h5.readStrings("query_tasks"), ids = try h5.readStrings("query_ids")
        let (shape, correlation) = try h5.readFloats("correlation")
        if shape == [ids.count, ids.count], !ids.isEmpty, tasks.count == ids.count {
            s += "<h3>Correlation of the documents' scores between queries</h3><p class=\"note\">Pearson correlation over the "
                + "documents for each pair of queries (blue positive, orange negative); hover for the value.</p><table class=\"grid\"><tr><th></th>"
            s += ids.indices.map { "<th title=\"\(escape(ids[$0]))\">\($0)</th>" }.joined() + "</tr>"
            for i in ids.indices {
                s += "<tr><th>\(i) \(escape(tasks[i]))</th>"
                for j in ids.indices {
                    let r = Double(correlation[i * ids.count + j])
                    s += "<td class=\"cell\" style=\"background:\(tint(abs(r), r >= 0 ? blue : orange));min-width:24px\" title=\"\(escape(ids[i])) × \(escape(ids[j])): \(formatted(r, 3))\"></td>"
                }
                s += "</tr>"
            }
            s += "</table>"
        }
        return s + "</section>"
    }

    /// The markdown `influence analyze` writes: headings, paragraphs and pipe tables.
    static func markdownToHTML(_ markdown: String, skipTitle: Bool) -> String {
        var html = "", table: [[String]] = [], paragraph: [String] = []
        func cells(_ line: String) -> [String] {
            line.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "|"))
                .components(separatedBy: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        func flush() {
            if !paragraph.isEmpty { html += "<p>\(escape(paragraph.joined(separator: " ")))</p>"; paragraph = [] }
            if let header = table.first {
                html += htmlTable(header.map(escape), table.dropFirst().map { $0.map(escape) })
                table = []
            }
        }
        for line in markdown.components(separatedBy: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("|") {
                if !paragraph.isEmpty { flush() }
                if !cells(t).allSatisfy({ $0.allSatisfy { $0 == "-" || $0 == ":" } }) { table.append(cells(t)) }
            } else if t.hasPrefix("#") {
                flush()
                let level = t.prefix { $0 == "#" }.count
                if level == 1 && skipTitle { continue }
                html += "<h\(min(level + 2, 6))>\(escape(String(t.dropFirst(level)).trimmingCharacters(in: .whitespaces)))</h\(min(level + 2, 6))>"
            } else if t.isEmpty {
                flush()
            } else {
                if !table.isEmpty { flush() }
                paragraph.append(t)
            }
        }
        flush()
        return html
    }
}
