import Foundation

/// The readers take paths: each input is written to a file of its own under the temporary
/// directory (per process, so parallel fuzzing jobs do not collide) and removed afterwards.
public enum FuzzInput {
    public static func write(_ data: UnsafePointer<UInt8>, _ size: Int, suffix: String = "") -> String {
        let path = NSTemporaryDirectory() + "workbench-fuzz-\(getpid())\(suffix)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd >= 0 {
            var offset = 0
            while offset < size {
                let n = Foundation.write(fd, data + offset, size - offset)
                if n <= 0 { break }
                offset += n
            }
            close(fd)
        }
        return path
    }
}
