import Foundation
import Model
import Corpus

/// The procedural-knowledge paper's five analyses (methods.md §3) over a score table.
public struct InfluenceAnalysis {
    public struct Options: Sendable {
        /// Documents counted as "top" (and "bottom") per query.
        public var topK = 50
        /// Percentiles of the corpus for the cumulative positive influence.
        public var percentiles: [Double] = [0.1, 0.5, 1, 2, 5, 10, 20, 50]
        /// Top positive documents the power law is fitted to.
        public var powerLawDocuments = 100
        /// Word n-grams for the procedure overlap.
        public var ngram = 3
        public init() {}
    }

    public var tasks: [String]
    /// Task of every query, in score-file order.
    public var queryTasks: [String]
    /// (1) Pearson correlation of document scores between queries, [Q][Q].
    public var correlation: [[Double]]
    /// Mean correlation between distinct queries of task i and task j, [T][T].
    public var taskCorrelation: [[Double]]
    /// (1) split into magnitude and sign: Pearson correlation of the documents' |scores|
    /// between queries, and the fraction of documents (non-zero on both sides) whose scores
    /// have the same sign for both queries, [Q][Q]; their task means, [T][T]. The sign
    /// agreement is read against its value for independent signs, p_i p_j + (1 − p_i)(1 − p_j)
    /// with p the query's share of positive scores over the same documents (0.5 only when
    /// one of them is 0.5).
    public var magnitudeCorrelation: [[Double]]
    public var taskMagnitudeCorrelation: [[Double]]
    public var signAgreement: [[Double]]
    public var taskSignAgreement: [[Double]]
    public var signAgreementChance: [[Double]]
    public var taskSignAgreementChance: [[Double]]
    /// (2) Share of the total positive influence held by the top p% of documents, [Q][P].
    public var cumulativeShare: [[Double]]
    /// Power-law exponent α of score ∝ rank^(−α) over the top positive documents, [Q].
    public var powerLawAlpha: [Double]
    /// (3) Whether the query's answer appears in one of its top-k documents, [Q] (nil: no answer given).
    public var answerInTop: [Bool?]
    /// How many documents of the corpus contain the query's answer as a word, and the chance
    /// that k documents drawn at random include at least one of them (hypergeometric), [Q]
    /// (nil: no answer given): the baseline (3) is to be read against.
    public var answerDocuments: [Int?]
    public var answerInTopChance: [Double?]
    /// (4) Mean share of the query's completion n-grams (numbers masked) found in its top-k
    /// documents, and the same over all documents, [Q].
    public var procedureOverlapTop: [Double]
    public var procedureOverlapAll: [Double]
    /// Source mix of the top-k documents per task: [task][source] fraction.
    public var sources: [String]
    public var topSourceShare: [[Double]]
    public var bottomSourceShare: [[Double]]
    /// (5) Fraction of each source in the top (bottom) k over its fraction in the corpus, [task][source].
    public var topRepresentation: [[Double]]
    public var bottomRepresentation: [[Double]]
    public var corpusSourceShare: [Double]
    public var options: Options

    public static func run(scores table: ScoreTable, queries: [Query], documents: DocumentStream,
                           options: Options) throws -> InfluenceAnalysis {
        let byID = Dictionary(queries.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let ordered = try table.queryIDs.map { id -> Query in
            guard let q = byID[id] else { throw WorkbenchError("query \(id) of the score file is in none of the --queries files") }
            return q
        }
        let Q = ordered.count, D = table.documentIDs.count
        let K = min(options.topK, D)
        var used = options   // what the tables report: k is at most the corpus's size
        used.topK = K
        let queryTasks = ordered.map { $0.task ?? "query" }
        var tasks: [String] = []
        for t in queryTasks where !tasks.contains(t) { tasks.append(t) }

        // (1) correlations, and the same split into magnitude and sign.
        let magnitudes = table.scores.map { $0.map(abs) }
        var correlation = [[Double]](repeating: [Double](repeating: .nan, count: Q), count: Q)
        var magnitudeCorrelation = correlation, signAgreement = correlation, signChance = correlation
        for i in 0..<Q {
            for j in i..<Q {   // each measure is symmetric bit for bit: fill one triangle, mirror it
                correlation[i][j] = pearson(table.scores[i], table.scores[j])
                correlation[j][i] = correlation[i][j]
                magnitudeCorrelation[i][j] = pearson(magnitudes[i], magnitudes[j])
                magnitudeCorrelation[j][i] = magnitudeCorrelation[i][j]
                (signAgreement[i][j], signChance[i][j]) = sameSignFraction(table.scores[i], table.scores[j])
                (signAgreement[j][i], signChance[j][i]) = (signAgreement[i][j], signChance[i][j])
            }
        }
        func taskMeans(_ pairs: [[Double]]) -> [[Double]] {
            tasks.map { ti in tasks.map { tj -> Double in
                var sum = 0.0, n = 0
                for i in 0..<Q where queryTasks[i] == ti {
                    for j in 0..<Q where queryTasks[j] == tj && i != j && !pairs[i][j].isNaN { sum += pairs[i][j]; n += 1 }
                }
                return n > 0 ? sum / Double(n) : .nan
            } }
        }

        // (2) concentration of positive influence.
        var shares: [[Double]] = [], alphas: [Double] = []
        let rankings = table.scores.map { row in row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) } }
        for q in 0..<Q {
            let positive = rankings[q].map { Double(table.scores[q][$0]) }.filter { $0 > 0 }
            let total = positive.reduce(0, +)
            shares.append(options.percentiles.map { p in
                let n = max(1, Int((p / 100 * Double(D)).rounded(.up)))
                return total > 0 ? positive.prefix(n).reduce(0, +) / total : .nan
            })
            alphas.append(powerLawExponent(Array(positive.prefix(options.powerLawDocuments))))
        }

        // (3)–(5) need texts and sources of the top and bottom documents only.
        var wanted = Set<Int>()
        for r in rankings { wanted.formUnion(r.prefix(K)); wanted.formUnion(r.suffix(K)) }
        var texts: [Int: String] = [:], wantedNgrams: [Int: Set<String>] = [:]
        let queryNgrams = ordered.map { ngrams(maskNumbers($0.completion ?? ""), n: options.ngram) }
        var overlapAll = [Double](repeating: 0, count: Q)
        var answerCounts = [Int](repeating: 0, count: Q)
        var position = 0
        try documents.forEach { doc in
            defer { position += 1 }
            guard position < D else { return false }
            let grams = ngrams(maskNumbers(doc.text), n: options.ngram)
            if wanted.contains(position) { texts[position] = doc.text; wantedNgrams[position] = grams }
            for q in 0..<Q where !queryNgrams[q].isEmpty {
                overlapAll[q] += Double(queryNgrams[q].intersection(grams).count) / Double(queryNgrams[q].count)
            }
            for q in 0..<Q {
                if let answer = ordered[q].answer, !answer.isEmpty, containsWord(doc.text, answer) { answerCounts[q] += 1 }
            }
            return true
        }
        overlapAll = overlapAll.map { $0 / Double(max(D, 1)) }
        var answerInTop: [Bool?] = [], answerDocuments: [Int?] = [], answerChance: [Double?] = [], overlapTop: [Double] = []
        for q in 0..<Q {
            let top = rankings[q].prefix(K)
            if let answer = ordered[q].answer, !answer.isEmpty {
                answerInTop.append(top.contains { containsWord(texts[$0] ?? "", answer) })
                answerDocuments.append(answerCounts[q])
                answerChance.append(1 - (0..<K).reduce(1.0) { p, i in p * Double(max(D - answerCounts[q] - i, 0)) / Double(D - i) })
            } else { answerInTop.append(nil); answerDocuments.append(nil); answerChance.append(nil) }
            let grams = queryNgrams[q]
            overlapTop.append(grams.isEmpty ? .nan : top.map { Double(grams.intersection(wantedNgrams[$0] ?? []).count) / Double(grams.count) }
                .reduce(0, +) / Double(max(top.count, 1)))
        }

        var sources: [String] = []
        for s in table.documentSources where !sources.contains(s) { sources.append(s) }
        sources.sort()
        let corpusShare = sources.map { s in Double(table.documentSources.filter { $0 == s }.count) / Double(max(D, 1)) }
        func share(_ pick: (Int) -> ArraySlice<Int>) -> [[Double]] {
            tasks.map { t in
                var counts = [Double](repeating: 0, count: sources.count), total = 0.0
                for q in 0..<Q where queryTasks[q] == t {
                    for d in pick(q) { counts[sources.firstIndex(of: table.documentSources[d])!] += 1; total += 1 }
                }
                return counts.map { total > 0 ? $0 / total : .nan }
            }
        }
        let topShare = share { rankings[$0].prefix(K) }, bottomShare = share { rankings[$0].suffix(K) }
        func representation(_ s: [[Double]]) -> [[Double]] { s.map { row in zip(row, corpusShare).map { $1 > 0 ? $0 / $1 : .nan } } }
        return InfluenceAnalysis(tasks: tasks, queryTasks: queryTasks, correlation: correlation, taskCorrelation: taskMeans(correlation),
                                 magnitudeCorrelation: magnitudeCorrelation, taskMagnitudeCorrelation: taskMeans(magnitudeCorrelation),
                                 signAgreement: signAgreement, taskSignAgreement: taskMeans(signAgreement),
                                 signAgreementChance: signChance, taskSignAgreementChance: taskMeans(signChance),
                                 cumulativeShare: shares, powerLawAlpha: alphas, answerInTop: answerInTop,
                                 answerDocuments: answerDocuments, answerInTopChance: answerChance,
                                 procedureOverlapTop: overlapTop, procedureOverlapAll: overlapAll, sources: sources,
                                 topSourceShare: topShare, bottomSourceShare: bottomShare,
                                 topRepresentation: representation(topShare), bottomRepresentation: representation(bottomShare),
                                 corpusSourceShare: corpusShare, options: used)
    }

    static func pearson(_ a: [Float], _ b: [Float]) -> Double {
        let n = Double(a.count)
        guard n > 1 else { return .nan }
        let ma = a.reduce(0.0) { $0 + Double($1) } / n, mb = b.reduce(0.0) { $0 + Double($1) } / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in a.indices {
            let x = Double(a[i]) - ma, y = Double(b[i]) - mb
            sab += x * y; saa += x * x; sbb += y * y
        }
        return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : .nan
    }

    /// Over the positions where both are non-zero: the fraction at which they have the same
    /// sign, and that fraction's expectation were the signs independent, p_a p_b + (1 − p_a)(1 − p_b).
    static func sameSignFraction(_ a: [Float], _ b: [Float]) -> (observed: Double, chance: Double) {
        var same = 0, counted = 0, positiveA = 0, positiveB = 0
        for i in a.indices where a[i] != 0 && b[i] != 0 {
            counted += 1
            if a[i] > 0 { positiveA += 1 }
            if b[i] > 0 { positiveB += 1 }
            if (a[i] > 0) == (b[i] > 0) { same += 1 }
        }
        guard counted > 0 else { return (.nan, .nan) }
        let pa = Double(positiveA) / Double(counted), pb = Double(positiveB) / Double(counted)
        return (Double(same) / Double(counted), pa * pb + (1 - pa) * (1 - pb))
    }

    /// Least-squares slope of log(score) against log(rank) (ranks from 1), negated.
    static func powerLawExponent(_ descending: [Double]) -> Double {
        guard descending.count >= 3 else { return .nan }
        let xs = descending.indices.map { log(Double($0 + 1)) }, ys = descending.map { log($0) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        var sxy = 0.0, sxx = 0.0
        for i in xs.indices { sxy += (xs[i] - mx) * (ys[i] - my); sxx += (xs[i] - mx) * (xs[i] - mx) }
        return -sxy / sxx
    }

    /// Digits runs become "<n>": the procedure, not its numbers, is compared.
    static func maskNumbers(_ text: String) -> String {
        var out = "", inNumber = false
        for ch in text {
            if ch.isNumber { if !inNumber { out += "<n>" }; inNumber = true } else { out.append(ch); inNumber = false }
        }
        return out
    }

    static func ngrams(_ text: String, n: Int) -> Set<String> {
        let words = text.lowercased().split { $0.isWhitespace }.map(String.init)
        guard words.count >= n else { return [] }
        return Set((0...(words.count - n)).map { words[$0..<($0 + n)].joined(separator: " ") })
    }

    /// `needle` as a whole word (or number) in `text`.
    static func containsWord(_ text: String, _ needle: String) -> Bool {
        var search = text.startIndex..<text.endIndex
        while let r = text.range(of: needle, range: search) {
            let before = r.lowerBound == text.startIndex ? nil : text[text.index(before: r.lowerBound)]
            let after = r.upperBound == text.endIndex ? nil : text[r.upperBound]
            let boundary = { (c: Character?) in c.map { !($0.isLetter || $0.isNumber) } ?? true }
            if boundary(before) && boundary(after) { return true }
            search = r.upperBound..<text.endIndex
        }
        return false
    }
}
