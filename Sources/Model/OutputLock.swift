import Foundation

/// An exclusive lock on an output that a command fills over a long run (a run directory, a
/// score file's partial checkpoint), held until the command ends: a second command started
/// on the same output refuses at once instead of interleaving its checkpoints with the
/// first's. The kernel drops the lock when the holder exits, killed or not, so a stale lock
/// file never blocks a resume; the temporaries a killed holder left are removed by the next.
public enum OutputLock {
    nonisolated(unsafe) private static var held: [String: Int32] = [:]
    private static let guardLock = NSLock()

    /// Takes the lock file `path` (created if missing); `output` names the output in the error.
    public static func acquire(_ path: String, for output: String) throws {
        guardLock.lock(); defer { guardLock.unlock() }
        guard held[path] == nil else { return }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw WorkbenchError("cannot create the lock file \(path): \(String(cString: strerror(errno)))", file: output)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw WorkbenchError("another run is writing here\(holder.map { $0.isEmpty ? "" : " (process \($0))" } ?? ""); wait for it to end or choose another output", file: output)
        }
        let pid = Data("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        held[path] = descriptor
        // Holding the output, this run is the only writer: what a killed run left half-written goes.
        removeStaleTemporaries(of: output)
    }

    /// `DIRECTORY/.lock` for a run directory (created if missing).
    public static func acquire(directory: String) throws {
        try makeDirectory(directory)
        try acquire((directory as NSString).appendingPathComponent(".lock"), for: directory)
    }

    /// Releases the lock and removes its file.
    public static func release(_ path: String) {
        guardLock.lock(); defer { guardLock.unlock() }
        guard let descriptor = held.removeValue(forKey: path) else { return }
        unlink(path)
        close(descriptor)
    }

    /// Releases every lock this process holds (as a command ends, well or with an error).
    public static func releaseAll() {
        let paths = { guardLock.lock(); defer { guardLock.unlock() }; return Array(held.keys) }()
        paths.forEach(release)
    }
}
