import ArgumentParser
import Foundation
import JSON
import Launch
import ObjectModel

/// `igvm-mgr args CONFIG`: the QEMU command line a VM definition becomes.
struct ArgsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "args",
        abstract: "Print the QEMU command line for a VM definition.",
        discussion: """
            Prints the full argv (program first) as one line quoted for a POSIX shell, or with \
            --json as a JSON array of strings. Nothing is started. The command line has a QMP \
            socket and -S (the VM starts paused).
            Exit status: 0 printed, 1 the definition is invalid, 2 usage error or unreadable file.
            """)

    @Argument(help: "The VM definition (TOML; see docs/config.md).")
    var config: String

    @Flag(help: "Print a JSON array of strings instead of a shell line.")
    var json = false

    @Option(help: "The QMP socket path in the command line (default: NAME.qmp.sock in the current directory).")
    var qmpSocket: String?

    @Option(help: "How -object values are written: json (default; immune to comma injection) or key-value.")
    var objectForm: ObjectFormOption = .json

    func run() throws {
        let definition: VMDefinition
        let plan: LaunchPlan
        do {
            definition = try VMDefinition.load(path: config)
            let socket = qmpSocket ?? FileManager.default.currentDirectoryPath + "/\(definition.name).qmp.sock"
            plan = try LaunchPlan(definition: definition, qmpSocket: socket)
        } catch {
            for problem in error.problems { Output.error(problem.description) }
            throw error.kind == .unreadable ? ExitStatus.usage : ExitStatus.failure
        }
        var rendered = plan
        rendered.objectForm = objectForm.form
        if json {
            Output.json(.array(rendered.argv.map(JSON.string)))
        } else {
            Output.line(ShellQuoting.line(rendered.argv))
        }
    }
}

enum ObjectFormOption: String, ExpressibleByArgument, CaseIterable {
    case json
    case keyValue = "key-value"

    var form: CommandLineForm { self == .json ? .json : .keyValue }
}
