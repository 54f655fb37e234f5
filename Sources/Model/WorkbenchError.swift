import Foundation

/// Every failure the workbench reports to a user: one line naming the file (when
/// there is one) and the problem. CLIs print `description` and exit non-zero.
public struct WorkbenchError: Error, CustomStringConvertible, Equatable {
    public let file: String?
    public let message: String

    public init(_ message: String, file: String? = nil) {
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "\(file): \(message)" }
        return message
    }
}
