import ArgumentParser
import CLICommon
import Formats
import Foundation

@main
struct SteerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steer",
        abstract: "Train steering vectors (and full fine-tuning) by online RL, evaluate them, export them.",
        discussion: "--model is optional everywhere: the embedded model is used without it. docs/steering.md has the details.",
        version: WorkbenchVersion.current,
        subcommands: [Train.self, Eval.self, Export.self])

    static func main() { runCommand(SteerCommand.self) }
}
