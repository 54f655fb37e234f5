import Model
/// GPT-2's reversible byte ↔ character map: printable Latin-1 bytes map to
/// themselves, the other bytes to U+0100 and up, so any byte string becomes a
/// string of visible characters that BPE can work on (space → "Ġ", newline → "Ċ").
public enum ByteLevelMap {
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    public static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The byte-level form of `text`: one character per UTF-8 byte.
    public static func encode(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for b in text.utf8 { out.append(byteToScalar[Int(b)]) }
        return String(out)
    }

    /// The bytes a token stands for: its characters' bytes when every character is
    /// in the byte alphabet, else the token's own UTF-8 (an added token such as "你好").
    public static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
