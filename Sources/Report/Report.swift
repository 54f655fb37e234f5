import Formats
import Foundation
import Model

/// `workbench report`: one self-contained HTML page for any mix of results (docs/report.md).
/// Each path is recognised by what it holds: a `steer train` run directory, a lens file, an
/// influence score file, an analysis file, or a folder of them (the demo's output), whose
/// results are taken in name order.
public struct Report {
    public var paths: [String]
    /// The corpus and queries behind score files (else the paths the files recorded).
    public var docs: String?
    public var queries: String?
    /// Documents shown per query.
    public var topDocuments = 5
    /// What colours a lens grid's cells: the top token's probability, or the KL to the output.
    public var lensColour = LensColour.probability
    public var title = "Workbench report"

    public init(paths: [String]) { self.paths = paths }

    /// The page's HTML.
    public func html() throws -> String {
        var page = HTMLPage(title: title)
        for path in paths { page.sections += try sections(for: path, searchingFolder: true) }
        guard !page.sections.isEmpty else { throw WorkbenchError("holds no result the report knows (a run directory, lens, score or analysis file)", file: paths.first) }
        page.sections.insert("<p class=\"note\">Made by workbench \(WorkbenchVersion.current) from \(paths.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")). "
                             + "Hover over points, cells and tokens for their values.</p>", at: 0)
        return page.render()
    }

    /// Writes the page to `out` atomically.
    public func write(to out: String) throws {
        try writeFileAtomically(Data(try html().utf8), to: out)
    }

    func sections(for path: String, searchingFolder: Bool) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw WorkbenchError("no such file or directory", file: path) }
        if isDirectory.boolValue {
            if RunSection.matches(path) { return [try RunSection(directory: path).html()] }
            guard searchingFolder else { return [] }
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            var found: [String] = []
            // Runs first, then lens, influence and analysis files.
            for name in names where RunSection.matches((path as NSString).appendingPathComponent(name)) {
                found += try sections(for: (path as NSString).appendingPathComponent(name), searchingFolder: false)
            }
            for name in names where name.hasSuffix(".h5") && !name.contains(".partial") && !name.contains(".tmp-") {
                found += try sections(for: (path as NSString).appendingPathComponent(name), searchingFolder: false)
            }
            if found.isEmpty { throw WorkbenchError("holds no result the report knows (a run directory, lens, score or analysis file)", file: path) }
            return found
        }
        let reader = try HDF5Reader(path: path)
        if LensSection.matches(reader) { return [try LensSection(path: path, colourBy: lensColour).html()] }
        if InfluenceSection.matches(reader) {
            return [try InfluenceSection(path: path, docs: docs, queries: queries, top: topDocuments).html()]
        }
        if AnalysisSection.matches(reader) { return [try AnalysisSection(path: path).html()] }
        if searchingFolder { throw WorkbenchError("is not a result the report knows (a lens, score or analysis file)", file: path) }
        return []
    }
}
