import Foundation
import Model
import Formats

/// analysis.h5 and the markdown report written next to it (docs/influence.md).
extension InfluenceAnalysis {
    public func write(to path: String, queryIDs: [String]) throws {
        let file = try HDF5Writer(path: path)
        let (Q, T, S) = (queryIDs.count, tasks.count, sources.count)
        try file.setAttribute("top_k", .int(options.topK))
        try file.setAttribute("ngram", .int(options.ngram))
        try file.writeStrings("query_ids", queryIDs)
        try file.writeStrings("query_tasks", queryTasks)
        try file.writeStrings("tasks", tasks)
        try file.writeStrings("sources", sources)
        try file.writeFloats("correlation", shape: [Q, Q], correlation.flatMap { $0.map { Float($0) } })
        try file.writeFloats("task_correlation", shape: [T, T], taskCorrelation.flatMap { $0.map { Float($0) } })
        try file.writeFloats("magnitude_correlation", shape: [Q, Q], magnitudeCorrelation.flatMap { $0.map { Float($0) } })
        try file.writeFloats("task_magnitude_correlation", shape: [T, T], taskMagnitudeCorrelation.flatMap { $0.map { Float($0) } })
        try file.writeFloats("sign_agreement", shape: [Q, Q], signAgreement.flatMap { $0.map { Float($0) } })
        try file.writeFloats("task_sign_agreement", shape: [T, T], taskSignAgreement.flatMap { $0.map { Float($0) } })
        try file.writeFloats("sign_agreement_chance", shape: [Q, Q], signAgreementChance.flatMap { $0.map { Float($0) } })
        try file.writeFloats("task_sign_agreement_chance", shape: [T, T], taskSignAgreementChance.flatMap { $0.map { Float($0) } })
        try file.writeFloats("percentiles", shape: [options.percentiles.count], options.percentiles.map { Float($0) })
        try file.writeFloats("cumulative_share", shape: [Q, options.percentiles.count], cumulativeShare.flatMap { $0.map { Float($0) } })
        try file.writeFloats("power_law_alpha", shape: [Q], powerLawAlpha.map { Float($0) })
        try file.writeInt32("answer_in_top", shape: [Q], answerInTop.map { $0.map { $0 ? 1 : 0 } ?? -1 })
        try file.writeInt32("answer_documents", shape: [Q], answerDocuments.map { $0 ?? -1 })
        try file.writeFloats("answer_in_top_chance", shape: [Q], answerInTopChance.map { Float($0 ?? .nan) })
        try file.writeFloats("procedure_overlap_top", shape: [Q], procedureOverlapTop.map { Float($0) })
        try file.writeFloats("procedure_overlap_all", shape: [Q], procedureOverlapAll.map { Float($0) })
        try file.writeFloats("corpus_source_share", shape: [S], corpusSourceShare.map { Float($0) })
        try file.writeFloats("top_source_share", shape: [T, S], topSourceShare.flatMap { $0.map { Float($0) } })
        try file.writeFloats("bottom_source_share", shape: [T, S], bottomSourceShare.flatMap { $0.map { Float($0) } })
        try file.writeFloats("top_representation", shape: [T, S], topRepresentation.flatMap { $0.map { Float($0) } })
        try file.writeFloats("bottom_representation", shape: [T, S], bottomRepresentation.flatMap { $0.map { Float($0) } })
        try file.commit()
    }

    /// Mean over the queries of one task of a per-query value (NaNs skipped).
    func taskMean(_ values: [Double], _ task: String) -> Double {
        let v = values.indices.filter { queryTasks[$0] == task }.map { values[$0] }.filter { !$0.isNaN }
        return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
    }

    public func markdown(title: String) -> String {
        func f(_ x: Double, _ digits: Int = 2) -> String { x.isNaN ? "–" : String(format: "%.\(digits)f", x) }
        var md = "# \(title)\n\nTop/bottom k = \(options.topK) documents per query; \(queryTasks.count) queries in \(tasks.count) tasks.\n"
        md += "\n## 1. Correlation of document scores between queries\n\nMean Pearson correlation between distinct queries "
            + "(row task × column task). Paper: ≈ 0.9 within a reasoning task for same-format queries, near 0 for factual queries.\n\n"
        md += "| task | " + tasks.joined(separator: " | ") + " |\n|---|" + tasks.map { _ in "---|" }.joined() + "\n"
        for (i, t) in tasks.enumerated() { md += "| \(t) | " + taskCorrelation[i].map { f($0) }.joined(separator: " | ") + " |\n" }
        md += "\nThe same pairs split into magnitude and sign: Pearson correlation of the documents' |scores|, and the fraction of "
            + "documents whose scores have the same sign for both queries, beside that fraction were the two queries' signs independent "
            + "(p₁p₂ + (1 − p₁)(1 − p₂), p the share of positive scores: 0.50 only when one share is 0.50).\n\n"
            + "| task | score r | \\|score\\| r | same sign | same sign if independent |\n|---|---|---|---|---|\n"
        for (i, t) in tasks.enumerated() {
            md += "| \(t) | \(f(taskCorrelation[i][i])) | \(f(taskMagnitudeCorrelation[i][i])) | \(f(taskSignAgreement[i][i])) | \(f(taskSignAgreementChance[i][i])) |\n"
        }
        md += "\n## 2. How concentrated the positive influence is\n\nShare of the total positive influence held by the top p% of documents, "
            + "and the power-law exponent α (score ∝ rank^−α) over the top \(options.powerLawDocuments) positive documents, mean per task. "
            + "Paper: reasoning relies less on any single document than factual recall (a flatter curve).\n\n"
        md += "| task | " + options.percentiles.map { "top \(f($0, 1))%" }.joined(separator: " | ") + " | α |\n|---|"
            + options.percentiles.map { _ in "---|" }.joined() + "---|\n"
        for t in tasks {
            let shares = options.percentiles.indices.map { p in taskMean(cumulativeShare.map { $0[p] }, t) }
            md += "| \(t) | " + shares.map { f($0) }.joined(separator: " | ") + " | \(f(taskMean(powerLawAlpha, t))) |\n"
        }
        md += "\n## 3. Does the answer appear in the top documents?\n\nFraction of queries whose answer appears (as a word) in one of their "
            + "top \(options.topK) documents. Paper (top 500 of 5M documents): factual 55% (7B) / 30% (35B), reasoning 7.4% (7B) / 0% (35B).\n\n"
            + "Beside it, how often \(options.topK) documents drawn at random would hold the answer (mean over the task's queries, "
            + "from how many documents of the corpus contain it), and that mean count.\n\n"
            + "| task | answer in top \(options.topK) | by chance | documents with the answer |\n|---|---|---|---|\n"
        for t in tasks {
            let v = answerInTop.indices.filter { queryTasks[$0] == t }.compactMap { answerInTop[$0] }
            let chance = taskMean(answerInTopChance.map { $0 ?? .nan }, t)
            let counts = taskMean(answerDocuments.map { $0.map(Double.init) ?? .nan }, t)
            md += "| \(t) | " + (v.isEmpty ? "–" : "\(v.filter { $0 }.count)/\(v.count) (\(f(100 * Double(v.filter { $0 }.count) / Double(v.count), 0))%)")
                + " | " + (chance.isNaN ? "–" : "\(f(100 * chance, 0))%") + " | \(f(counts, 1)) |\n"
        }
        md += "\n## 4. Do the top documents show the query's procedure?\n\nMean share of the query completion's word \(options.ngram)-grams "
            + "(numbers masked) found in the top \(options.topK) documents, against the mean over all documents. Paper: top documents "
            + "for reasoning show the same procedure rather than the answer.\n\n| task | top \(options.topK) | all documents | ratio |\n|---|---|---|---|\n"
        for t in tasks {
            let top = taskMean(procedureOverlapTop, t), all = taskMean(procedureOverlapAll, t)
            md += "| \(t) | \(f(top, 3)) | \(f(all, 3)) | \(f(all > 0 ? top / all : .nan, 1))× |\n"
        }
        md += "\n## 5. Which sources the top and bottom documents come from\n\nShare of each source in a task's top \(options.topK) "
            + "documents over its share in the corpus (1 = as in the corpus). Paper: reasoning draws on maths, StackExchange, arXiv and "
            + "code (> 10× over-represented), factual recall on Wikipedia and trivia.\n\n"
        md += "| task | " + sources.joined(separator: " | ") + " |\n|---|" + sources.map { _ in "---|" }.joined() + "\n"
        md += "| corpus share | " + corpusSourceShare.map { f($0) }.joined(separator: " | ") + " |\n"
        for (i, t) in tasks.enumerated() { md += "| \(t) top | " + topRepresentation[i].map { f($0, 1) + "×" }.joined(separator: " | ") + " |\n" }
        for (i, t) in tasks.enumerated() { md += "| \(t) bottom | " + bottomRepresentation[i].map { f($0, 1) + "×" }.joined(separator: " | ") + " |\n" }
        return md
    }
}
