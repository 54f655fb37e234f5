import Foundation

/// Text for XML, SVG and HTML content and attribute values: & < > " ' escaped, and the control
/// characters XML 1.0 forbids shown as \xHH (tab, newline and carriage return kept when
/// `keepingLineBreaks`, as text laid out with its line breaks needs them).
public func markupEscaped(_ text: String, keepingLineBreaks: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r":
            if keepingLineBreaks { out.unicodeScalars.append(c) } else { out += String(format: "\\x%02x", c.value) }
        default:
            if c.value < 0x20 || c.value == 0x7F { out += String(format: "\\x%02x", c.value) } else { out.unicodeScalars.append(c) }
        }
    }
    return out
}
