import Foundation

/// Creates `directory` and its parents when missing; a failure is one line naming it
/// with the system's reason.
public func makeDirectory(_ directory: String) throws {
    guard !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) else { return }
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        let reason = underlying.map { String(cString: strerror(Int32($0.code))) } ?? error.localizedDescription
        throw WorkbenchError("cannot create the output directory (\(reason))", file: directory)
    }
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
