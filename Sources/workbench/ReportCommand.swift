import ArgumentParser
import CLICommon
import Foundation
import Model
import Report

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "One self-contained HTML page of results: runs, lens, influence and analysis files.",
        discussion: """
        PATH is any mix of a steer train run directory (training curves, evaluations with one \
        standard error, the vectors through the lens, the settings), a lens run file (the site × \
        position grid), an influence score file (each query's top documents with their tokens \
        shaded by their share of the score, with --per-token), an influence analyze file, or a \
        folder of them such as the demo's output. The page needs no network, script or font: hover \
        details are tooltips. docs/report.md shows each kind.
        """)

    @Argument(help: "Run directories, result files (.h5) or folders of them.") var paths: [String]
    @Option(help: "The HTML file to write.") var out: String
    @Option(help: "The corpus behind score files (default: the path the score file recorded).") var docs: String?
    @Option(help: "The queries behind score files (default: the path the score file recorded).") var queries: String?
    @Option(help: "Documents shown per query.") var top: Int = 5
    @Option(help: "Lens grid cells coloured by the top token's probability or by the KL to the model's output: probability or kl.")
    var lensColour: String = "probability"

    func run() throws {
        guard top >= 1 else { throw WorkbenchError("--top must be at least 1") }
        var report = Report(paths: paths)
        report.docs = docs
        report.queries = queries
        report.topDocuments = top
        guard let colour = LensColour(rawValue: lensColour) else { throw WorkbenchError("--lens-colour: '\(lensColour)' is not probability or kl") }
        report.lensColour = colour
        try report.write(to: out)
        print("wrote \(out)")
    }
}
