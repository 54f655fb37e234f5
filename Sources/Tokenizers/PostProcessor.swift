import Model
/// The `post_processor` stage: adds special tokens around the encoded sequence.
public indirect enum PostProcessor: Sendable {
    /// tokenizers' TemplateProcessing (single-sequence template): a list of pieces,
    /// each either the sequence or the ids of a special token.
    case template([TemplatePiece])
    /// Changes offsets only; the ids pass through.
    case byteLevel
    case sequence([PostProcessor])

    public enum TemplatePiece: Sendable {
        case sequence
        case special([Int])
    }

    public func process(_ ids: [Int]) -> [Int] {
        switch self {
        case .byteLevel: return ids
        case .sequence(let steps): return steps.reduce(ids) { $1.process($0) }
        case .template(let pieces):
            var out: [Int] = []
            for p in pieces {
                switch p {
                case .sequence: out += ids
                case .special(let s): out += s
                }
            }
            return out
        }
    }
}
