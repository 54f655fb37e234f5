import ArgumentParser
import CLICommon
import Foundation
import Lens
import Model
import Formats

@main
struct LensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lens",
        abstract: "Read vectors and hidden states through the logit lens.",
        discussion: "--model is optional everywhere: the embedded model is used without it.",
        version: WorkbenchVersion.current,
        subcommands: [Inspect.self, Run.self, Tune.self])

    static func main() { runCommand(LensCommand.self) }
}

