import Model
/// A vocabulary key compared byte for byte. Swift's String equality is canonical
/// equivalence ("e\u{301}" == "\u{e9}"), but a vocabulary may hold both forms as
/// different tokens, so lookups must compare UTF-8 bytes.
public struct TokenKey: Hashable, Sendable {
    public let string: String

    public init(_ string: String) {
        var s = string
        s.makeContiguousUTF8()
        self.string = s
    }

    public static func == (a: TokenKey, b: TokenKey) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
