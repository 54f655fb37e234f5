import Foundation

/// Creates `directory` and its parents when missing; a failure is one line naming it
/// with the system's reason.
public func makeDirectory(_ directory: String) throws {
    guard !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) else { return }
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw WorkbenchError("cannot create the output directory (\(systemReason(error)))", file: directory)
    }
}

/// The system's words for why a Foundation file operation failed ("Permission denied"), from
/// the POSIX error underneath; Foundation's own description where there is none.
public func systemReason(_ error: Error) -> String {
    let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
    return underlying.map { String(cString: strerror(Int32($0.code))) } ?? error.localizedDescription
}

/// Checks, before any long work starts, that a file can be written at `path`: its directory
/// exists (created when missing) and takes a new file. Commands call it first so that an
/// unwritable --out fails at once, not after the work.
public func checkWritable(_ path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    try makeDirectory(directory)
    let probe = (directory.isEmpty ? "." : directory) + "/.workbench-write-test-\(getpid())"
    let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        throw WorkbenchError("cannot write here (\(String(cString: strerror(errno))))", file: path)
    }
    close(descriptor)
    unlink(probe)
}

/// The name this process writes `path` under until it renames it into place (`path.tmp-PID`).
public func temporaryName(for path: String) -> String { path + ".tmp-\(getpid())" }

/// Whether `name` ends the way a writer's temporary does (`temporaryName(for:)`).
public func isTemporaryName(_ name: String) -> Bool {
    guard let range = name.range(of: ".tmp-", options: .backwards) else { return false }
    let pid = name[range.upperBound...]
    return !pid.isEmpty && pid.allSatisfy { $0.isASCII && $0.isNumber }
}

/// Removes the temporaries that a killed run left: for a file output, those of the file and
/// of the files named after it (`OUT.tmp-PID`, `OUT.partial.h5.tmp-PID`); for a directory,
/// every temporary inside it. `OutputLock` calls it once it holds the output, when no live
/// run can be writing them.
public func removeStaleTemporaries(of path: String) {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        guard let names = FileManager.default.enumerator(atPath: path) else { return }
        for case let name as String in names where isTemporaryName((name as NSString).lastPathComponent) {
            unlink((path as NSString).appendingPathComponent(name))
        }
        return
    }
    let directory = (path as NSString).deletingLastPathComponent
    let output = (path as NSString).lastPathComponent
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
    where name.hasPrefix(output + ".") && isTemporaryName(name) {
        unlink(directory.isEmpty ? name : directory + "/" + name)
    }
}

/// `path` made absolute against the working directory, `.` and `..` resolved: what result files
/// record of their inputs.
public func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
