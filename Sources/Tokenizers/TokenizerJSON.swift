import Foundation
import Model

/// Reads the tokenizer.json format (Hugging Face `tokenizers`) into a `Tokenizer`.
/// Every unsupported or malformed component is reported with the file and the
/// JSON path of the problem.
enum TokenizerJSON {
    typealias Object = JSONObject

    static func parse(_ data: Data, source: String) throws -> Tokenizer {
        func fail(_ m: String) -> WorkbenchError { WorkbenchError(m, file: source) }
        let parsed: Any
        do { parsed = try OrderedJSON.parse(data) } catch let e as WorkbenchError { throw fail(e.message) }
        guard let root = parsed as? Object else { throw fail("not a JSON object") }
        let p = Parser(source: source)
        let normalizer = try p.optional(root["normalizer"], "normalizer") { try p.normalizer($0, "normalizer") }
        let preTokenizer = try p.optional(root["pre_tokenizer"], "pre_tokenizer") { try p.preTokenizer($0, "pre_tokenizer") }
        let decoder = try p.optional(root["decoder"], "decoder") { try p.decoder($0, "decoder") }
        guard let modelObject = root["model"] as? Object else { throw fail("missing 'model'") }
        let model = try p.bpe(modelObject)
        var added: [AddedToken] = []
        if let list = root["added_tokens"], !(list is JSONNull) {
            guard let entries = list as? [Object] else { throw fail("added_tokens: expected a list of objects") }
            for (i, e) in entries.enumerated() {
                guard let id = e["id"] as? Int, let content = e["content"] as? String else {
                    throw fail("added_tokens[\(i)]: needs 'id' and 'content'")
                }
                let special = (e["special"] as? Bool) ?? false
                added.append(AddedToken(id: id, content: content, special: special,
                                        lstrip: (e["lstrip"] as? Bool) ?? false, rstrip: (e["rstrip"] as? Bool) ?? false,
                                        singleWord: (e["single_word"] as? Bool) ?? false,
                                        normalized: (e["normalized"] as? Bool) ?? !special))
            }
        }
        let byContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        let post = try p.optional(root["post_processor"], "post_processor") {
            try p.postProcessor($0, "post_processor", lookup: { byContent[$0] ?? model.id(of: $0) })
        }
        return Tokenizer(model: model, normalizer: normalizer, preTokenizer: preTokenizer, postProcessor: post,
                         decoder: decoder, addedTokens: added, source: source)
    }

    struct Parser {
        let source: String
        func fail(_ path: String, _ m: String) -> WorkbenchError { WorkbenchError("\(path): \(m)", file: source) }

        func optional<T>(_ value: Any?, _ path: String, _ body: (Object) throws -> T) throws -> T? {
            guard let value, !(value is JSONNull) else { return nil }
            guard let o = value as? Object else { throw fail(path, "expected an object") }
            return try body(o)
        }

        func type(_ o: Object, _ path: String) throws -> String {
            guard let t = o["type"] as? String else { throw fail(path, "missing 'type'") }
            return t
        }

        func list(_ o: Object, _ key: String, _ path: String) throws -> [Object] {
            guard let l = o[key] as? [Object] else { throw fail(path, "expected a list '\(key)'") }
            return l
        }

        func string(_ o: Object, _ key: String, _ path: String) throws -> String {
            guard let s = o[key] as? String else { throw fail(path, "missing string '\(key)'") }
            return s
        }

        func scalar(_ o: Object, _ key: String, _ path: String) throws -> Unicode.Scalar {
            let s = try string(o, key, path)
            guard s.unicodeScalars.count == 1 else { throw fail(path, "'\(key)' must be a single character") }
            return s.unicodeScalars.first!
        }

        func pattern(_ value: Any?, _ path: String) throws -> TextPattern {
            guard let o = value as? Object else { throw fail(path, "pattern must be {\"String\": ...} or {\"Regex\": ...}") }
            if let s = o["String"] as? String { return .literal(Array(s.unicodeScalars)) }
            if let r = o["Regex"] as? String {
                do { return .regex(try ScalarRegex(r)) } catch let e as WorkbenchError { throw fail(path, e.message) }
            }
            throw fail(path, "pattern must be {\"String\": ...} or {\"Regex\": ...}")
        }

        func normalizer(_ o: Object, _ path: String) throws -> TextNormalizer {
            let t = try type(o, path)
            switch t {
            case "NFC": return .nfc
            case "NFD": return .nfd
            case "NFKC": return .nfkc
            case "NFKD": return .nfkd
            case "Lowercase": return .lowercase
            case "StripAccents": return .stripAccents
            case "Strip": return .strip(left: (o["strip_left"] as? Bool) ?? true, right: (o["strip_right"] as? Bool) ?? true)
            case "Replace": return .replace(try pattern(o["pattern"], path + ".pattern"), with: try string(o, "content", path))
            case "Prepend": return .prepend(try string(o, "prepend", path))
            case "Sequence":
                return .sequence(try list(o, "normalizers", path).enumerated().map { try normalizer($1, "\(path).normalizers[\($0)]") })
            default: throw fail(path, "unsupported normalizer type '\(t)'")
            }
        }

        func preTokenizer(_ o: Object, _ path: String) throws -> PreTokenizer {
            let t = try type(o, path)
            switch t {
            case "Split":
                let behavior: SplitBehavior
                do { behavior = try SplitBehavior(json: try string(o, "behavior", path)) }
                catch let e as WorkbenchError { throw fail(path, e.message) }
                return .split(try pattern(o["pattern"], path + ".pattern"), behavior, invert: (o["invert"] as? Bool) ?? false)
            case "ByteLevel":
                return .byteLevel(addPrefixSpace: (o["add_prefix_space"] as? Bool) ?? true, useRegex: (o["use_regex"] as? Bool) ?? true)
            case "Digits": return .digits(individual: (o["individual_digits"] as? Bool) ?? false)
            case "Whitespace": return .whitespace
            case "WhitespaceSplit": return .whitespaceSplit
            case "Metaspace":
                return .metaspace(replacement: try scalar(o, "replacement", path), prepend: try prependScheme(o, path),
                                  split: (o["split"] as? Bool) ?? true)
            case "Sequence":
                return .sequence(try list(o, "pretokenizers", path).enumerated().map { try preTokenizer($1, "\(path).pretokenizers[\($0)]") })
            default: throw fail(path, "unsupported pre_tokenizer type '\(t)'")
            }
        }

        func prependScheme(_ o: Object, _ path: String) throws -> PreTokenizer.MetaspacePrepend {
            if let s = o["prepend_scheme"] as? String {
                guard let v = PreTokenizer.MetaspacePrepend(rawValue: s) else { throw fail(path, "unknown prepend_scheme '\(s)'") }
                return v
            }
            return ((o["add_prefix_space"] as? Bool) ?? true) ? .always : .never
        }

        func decoder(_ o: Object, _ path: String) throws -> TokenDecoder {
            let t = try type(o, path)
            switch t {
            case "ByteLevel": return .byteLevel
            case "Metaspace": return .metaspace(replacement: try scalar(o, "replacement", path), prependScheme: try prependScheme(o, path))
            case "ByteFallback": return .byteFallback
            case "BPEDecoder": return .wordSuffix((o["suffix"] as? String) ?? "</w>")
            case "Fuse": return .fuse
            case "Strip":
                return .strip(content: try scalar(o, "content", path), start: (o["start"] as? Int) ?? 0,
                              stop: (o["stop"] as? Int) ?? 0)
            case "Replace": return .replace(try pattern(o["pattern"], path + ".pattern"), with: try string(o, "content", path))
            case "Sequence":
                return .sequence(try list(o, "decoders", path).enumerated().map { try decoder($1, "\(path).decoders[\($0)]") })
            default: throw fail(path, "unsupported decoder type '\(t)'")
            }
        }

        func postProcessor(_ o: Object, _ path: String, lookup: (String) -> Int?) throws -> PostProcessor {
            let t = try type(o, path)
            switch t {
            case "ByteLevel": return .byteLevel
            case "TemplateProcessing":
                guard let single = o["single"] as? [Object] else { throw fail(path, "missing 'single' template") }
                let specials = o["special_tokens"] as? Object
                var pieces: [PostProcessor.TemplatePiece] = []
                for (i, item) in single.enumerated() {
                    if item["Sequence"] != nil { pieces.append(.sequence); continue }
                    guard let sp = item["SpecialToken"] as? Object, let name = sp["id"] as? String else {
                        throw fail("\(path).single[\(i)]", "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}")
                    }
                    if let entry = specials?[name] as? Object, let ids = entry["ids"] as? [Int] {
                        pieces.append(.special(ids))
                    } else if let id = lookup(name) {
                        pieces.append(.special([id]))
                    } else {
                        throw fail("\(path).single[\(i)]", "special token '\(name)' has no id")
                    }
                }
                return .template(pieces)
            case "BertProcessing", "RobertaProcessing":
                guard let cls = o["cls"] as? [Any], cls.count == 2, let clsID = cls[1] as? Int,
                      let sep = o["sep"] as? [Any], sep.count == 2, let sepID = sep[1] as? Int else {
                    throw fail(path, "needs 'cls' and 'sep' as [token, id]")
                }
                return .template([.special([clsID]), .sequence, .special([sepID])])
            case "Sequence":
                return .sequence(try list(o, "processors", path).enumerated().map {
                    try postProcessor($1, "\(path).processors[\($0)]", lookup: lookup)
                })
            default: throw fail(path, "unsupported post_processor type '\(t)'")
            }
        }

        func bpe(_ o: Object) throws -> BPEModel {
            let t = (o["type"] as? String) ?? "BPE"
            guard t == "BPE" else { throw fail("model", "unsupported model type '\(t)' (supported: BPE)") }
            if let d = o["dropout"], let v = (d as? Double) ?? (d as? Int).map(Double.init), v > 0 {
                throw fail("model", "BPE dropout (\(v)) is not supported for encoding")
            }
            guard let vocabObject = o["vocab"] as? Object else { throw fail("model", "missing 'vocab' object") }
            var vocab: [(String, Int)] = []
            vocab.reserveCapacity(vocabObject.pairs.count)
            for (k, v) in vocabObject.pairs {
                guard let n = v as? Int else { throw fail("model.vocab", "id of '\(k)' is not an integer") }
                vocab.append((k, n))
            }
            guard let mergesAny = o["merges"] as? [Any] else { throw fail("model", "missing 'merges' list") }
            var merges: [(String, String)] = []
            merges.reserveCapacity(mergesAny.count)
            for (i, m) in mergesAny.enumerated() {
                if let s = m as? String {
                    // "a b": split at the one space separating the two tokens.
                    let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw fail("model.merges[\(i)]", "'\(s)' is not two tokens separated by a space") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let pair = m as? [String], pair.count == 2 {
                    merges.append((pair[0], pair[1]))
                } else {
                    throw fail("model.merges[\(i)]", "expected \"a b\" or [\"a\", \"b\"]")
                }
            }
            func optionalString(_ key: String) -> String? {
                guard let s = o[key] as? String, !s.isEmpty else { return nil }
                return s
            }
            return try BPEModel(vocab: vocab, merges: merges, unkToken: optionalString("unk_token"),
                                fuseUnk: (o["fuse_unk"] as? Bool) ?? false, byteFallback: (o["byte_fallback"] as? Bool) ?? false,
                                ignoreMerges: (o["ignore_merges"] as? Bool) ?? false,
                                continuingSubwordPrefix: optionalString("continuing_subword_prefix"),
                                endOfWordSuffix: optionalString("end_of_word_suffix"), source: source)
        }
    }
}
