import ArgumentParser
import Cluster
import Formats
import Foundation
import Model
import Tokenizers

// Helpers shared by the command-line tools: reading inputs, printing tables, and the
// common entry point that reports errors as one line.

/// Every executable starts here: fast BLAS kernels (which may re-execute the program, so
/// before anything else, MPI above all: a rank must not join its job twice), MPI when an MPI
/// launcher started the process, then the command; a WorkbenchError becomes one line on stderr and exit status 1.
/// Under mpirun only rank 0 prints; an error on any rank is printed with its rank and stops
/// the whole job.
public func runCommand<C: ParsableCommand>(_ type: C.Type) {
    BLASRuntime.ensureFastKernels()
    var errors = FileHandle.standardError
    do {
        try ProcessGroup.start()
    } catch {
        errors.write(Data("error: \(error)\n".utf8))
        Foundation.exit(1)
    }
    let group = ProcessGroup.world
    if !group.isRoot { errors = silenceOutput() }
    let prefix = group.isDistributed ? "error: rank \(group.rank): " : "error: "
    do {
        var command = try type.parseAsRoot()
        try command.run()
        OutputLock.releaseAll()
        group.finish()
    } catch let error as WorkbenchError {
        OutputLock.releaseAll()
        errors.write(Data("\(prefix)\(error)\n".utf8))
        group.abort(code: 1)
    } catch let error as CocoaError {
        // A file operation Foundation refused: one line with the path and the system's reason.
        OutputLock.releaseAll()
        let path = (error.userInfo[NSFilePathErrorKey] as? String ?? error.filePath).flatMap { $0.isEmpty ? nil : $0 }
        errors.write(Data("\(prefix)\(path.map { "\($0): " } ?? "")\(systemReason(error))\n".utf8))
        group.abort(code: 1)
    } catch {
        OutputLock.releaseAll()
        if group.isDistributed {
            // --help and --version end cleanly on every rank; anything else stops the job.
            let code = type.exitCode(for: error)
            if code == .success {
                print(type.fullMessage(for: error))
                group.finish()
                Foundation.exit(0)
            }
            errors.write(Data("\(prefix)\(type.fullMessage(for: error))\n".utf8))
            group.abort(code: code.rawValue)
        }
        type.exit(withError: error)
    }
}

/// Sends stdout and stderr to /dev/null (the ranks other than 0 of an MPI job); returns a
/// handle on the original stderr for errors.
private func silenceOutput() -> FileHandle {
    let original = dup(STDERR_FILENO)
    let null = open("/dev/null", O_WRONLY)
    if null >= 0 { dup2(null, STDOUT_FILENO); dup2(null, STDERR_FILENO); close(null) }
    return FileHandle(fileDescriptor: original >= 0 ? original : STDERR_FILENO)
}

public func printTable(_ rows: [(String, String)]) {
    let width = rows.map(\.0.count).max() ?? 0
    for (k, v) in rows {
        print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v)
    }
}

public func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB (%d)", Double(n) / 1e9, n) }
    if n >= 1_000_000 { return String(format: "%.2fM (%d)", Double(n) / 1e6, n) }
    if n >= 1_000 { return String(format: "%.1fK (%d)", Double(n) / 1e3, n) }
    return "\(n)"
}


extension String {
    public var nilIfEmpty: String? { isEmpty ? nil : self }
}

public func jsonString(_ s: String) -> String { SafeTensorsWriter.jsonQuoted(s) }


/// A token shown with visible whitespace.
/// A token as a short visible string: decoded text with visible whitespace (its id without a tokenizer).
public func shown(_ id: Int, _ tokenizer: Tokenizer?) -> String {
    guard let tokenizer else { return "#\(id)" }
    return visible(tokenizer.decode([id]))
}

public func visible(_ token: String) -> String { Tokenizer.visible(token) }


/// Parses "1,2,3" (spaces allowed) into token ids.
public func parseIDs(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(whereSeparator: { $0 == "," || $0 == " " })
    var ids: [Int] = []
    for p in parts {
        guard let v = Int(p), v >= 0 else {
            throw WorkbenchError("\(option): '\(p)' is not a non-negative integer token id")
        }
        ids.append(v)
    }
    guard !ids.isEmpty else { throw WorkbenchError("\(option): no token ids given") }
    return ids
}

public func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// A progress bar on stderr, redrawn in place on a terminal (at most 5 times a second)
/// and printed every 10% otherwise.
public final class ProgressLine {
    let label: String
    let total: Int
    /// Set at the first update, so a bar made before its work starts times that work only.
    var start: Date?
    var lastDraw = Date.distantPast
    var lastDecile = -1
    let terminal = isatty(STDERR_FILENO) != 0

    public init(_ label: String, total: Int) { self.label = label; self.total = max(total, 1) }

    public func update(_ done: Int) {
        let fraction = Double(done) / Double(total)
        if start == nil { start = Date() }
        let elapsed = Date().timeIntervalSince(start!)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "%@ [%@] %d/%d  %.0f s, ~%.0f s left", label, bar, done, total, elapsed, eta)
        if terminal {
            guard done == total || Date().timeIntervalSince(lastDraw) > 0.2 else { return }
            lastDraw = Date()
            FileHandle.standardError.write(Data(("\r" + line + (done == total ? "\n" : "")).utf8))
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

/// Opens `--model` (a Hugging Face directory or a GGUF file; the embedded model when nil) and
/// loads its weights, with a progress line while a large GGUF file is dequantised.
public func openModel(_ given: String?) throws -> (source: ModelSource, model: TransformerModel) {
    let source = try ModelSource(given)
    var large = false
    if case .gguf(let file) = source.kind { large = file.tensors.reduce(0) { min($0 + $1.elementCount, 1 << 40) } > 200_000_000 }
    var line: ProgressLine?
    let model = try source.loadModel { done, total in
        guard large else { return }
        if line == nil { line = ProgressLine("dequantising \((source.path as NSString).lastPathComponent)", total: total) }
        line?.update(done)
    }
    return (source, model)
}
