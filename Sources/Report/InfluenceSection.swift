import Corpus
import Formats
import Foundation
import Model
import Tokenizers

/// An `influence score` file (docs/influence.md): per query its prompt and completion, the top
/// documents with their scores and their text, each token shaded by its share of the score
/// when the file has per-token scores, and the distribution of the query's scores.
struct InfluenceSection {
    let path: String
    /// The corpus and the queries: given, else the paths the score file recorded.
    var docs: String?
    var queries: String?
    var top = 5

    static func matches(_ reader: HDF5Reader) -> Bool { reader.contains("scores") && reader.contains("doc_ids") }

    func html() throws -> String {
        let h5 = try HDF5Reader(path: path)
        let (shape, scores) = try h5.readFloats("scores")
        guard shape.count == 2 else { throw WorkbenchError("scores should be [queries, documents], got \(shape)", file: path) }
        let (Q, D) = (shape[0], shape[1])
        let queryIDs = try h5.readStrings("query_ids"), docIDs = try h5.readStrings("doc_ids")
        let tokenCounts = try h5.readInts("doc_token_counts").values
        guard queryIDs.count == Q, docIDs.count == D, tokenCounts.count == D else {
            throw WorkbenchError("datasets disagree in shape (scores \(shape), \(queryIDs.count) query ids, \(docIDs.count) document ids)", file: path)
        }
        let normalization = try h5.stringAttribute("normalization") ?? "raw"
        let docsPath = try docs ?? h5.stringAttribute("docs_path")
        let queriesPath = try queries ?? h5.stringAttribute("queries_file")

        // Texts: documents by id (only those shown), queries by id.
        let order = (0..<Q).map { q in (0..<D).sorted { scores[q * D + $0] > scores[q * D + $1] || scores[q * D + $0] == scores[q * D + $1] && $0 < $1 } }
        let shown = Set(order.flatMap { $0.prefix(top) })
        var texts: [String: String] = [:]
        if let docsPath, FileManager.default.fileExists(atPath: docsPath) {
            let wanted = Set(shown.map { docIDs[$0] })
            try DocumentStream(path: docsPath, requireIDs: true).forEach { if wanted.contains($0.id) { texts[$0.id] = $0.text }; return true }
        }
        var queryTexts: [String: Query] = [:]
        if let queriesPath, FileManager.default.fileExists(atPath: queriesPath) {
            for q in try Query.load(queriesPath) { queryTexts[q.id] = q }
        }
        // Per-token shares and the tokenizer that cut the documents into those tokens.
        var perToken: [Float]?, offsets: [Int]?, tokenizer: Tokenizer?
        if h5.contains("per_token/scores"), let model = try h5.stringAttribute("model_dir") {
            let shares = try h5.readFloats("per_token/scores").values, starts = try h5.readInts("per_token/doc_offsets").values
            // Used only when they describe the file's documents: D + 1 increasing offsets over each query's row.
            if Q > 0, shares.count % Q == 0, starts.count == D + 1, starts.first == 0, starts.last == shares.count / Q,
               zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }) {
                perToken = shares
                offsets = starts
                tokenizer = try? ModelSource(model).loadTokenizer()
            }
        }

        var s = "<section class=\"influence\"><h2>Influence: \(escape(path))</h2><p class=\"note\">\(Q) queries × \(D) documents, "
            + "scores normalised by <code>\(escape(normalization))</code>; positive = the document's gradient step lowers the query's loss. "
        s += docsPath.map { "Documents from <code>\(escape($0))</code>. " } ?? "No document texts (give --docs). "
        s += perToken != nil && tokenizer != nil
            ? "Tokens shaded by their share of the document's score: <span class=\"legend\"><span style=\"background:rgb(9,105,218);color:#fff\">raises</span><span style=\"background:rgb(212,92,0);color:#fff\">lowers</span></span> (hover for the value).</p>"
            : "No per-token scores in this file (influence score --per-token).</p>"
        for q in 0..<Q {
            let query = queryTexts[queryIDs[q]]
            s += "<h3>Query \(escape(queryIDs[q]))</h3>"
            if let query {
                s += "<div class=\"prompt\">\(escape(query.prompt))<b>\(escape(query.completion ?? ""))</b></div>"
            }
            let row = (0..<D).map { Double(scores[q * D + $0]) }
            s += Histogram(title: "scores of all \(D) documents", xLabel: "score (\(normalization))", values: row).svg()
            for (rank, d) in order[q].prefix(top).enumerated() {
                s += "<p><b>\(rank + 1). \(escape(docIDs[d]))</b> score \(String(format: "%.4g", row[d]))</p>"
                guard let text = texts[docIDs[d]] else { continue }
                if let perToken, let offsets, let tokenizer, d + 1 < offsets.count {
                    s += shaded(text, tokenizer: tokenizer, count: tokenCounts[d],
                                shares: Array(perToken[(q * (perToken.count / Q) + offsets[d])..<(q * (perToken.count / Q) + offsets[d + 1])]))
                } else {
                    s += "<div class=\"doc\">\(escape(text))</div>"
                }
            }
        }
        return s + "</section>"
    }

    /// The document as its tokens, each shaded by its share (blue raises the query's
    /// probability, orange lowers it), scaled by the largest share in the document.
    func shaded(_ text: String, tokenizer: Tokenizer, count: Int, shares: [Float]) -> String {
        let ids = Array(tokenizer.encode(text).prefix(count))
        guard ids.count == shares.count else { return "<div class=\"doc\">\(escape(text))</div>" }
        let scale = max(shares.map { abs($0) }.max() ?? 0, 1e-30)
        var s = "<div class=\"doc\">"
        for (id, share) in zip(ids, shares) {
            let piece = tokenizer.decode([id])
            let a = Double(abs(share) / scale)
            let ink = a > 0.55 ? "#fff" : "#1b1f24"
            s += "<span class=\"tok \(share >= 0 ? "pos" : "neg")\" style=\"background:\(tint(a, share >= 0 ? blue : orange));color:\(ink)\" "
                + "title=\"\(escape(Tokenizer.visible(piece))) \(String(format: "%+.3g", share))\">\(escape(piece))</span>"
        }
        return s + "</div>"
    }
}
