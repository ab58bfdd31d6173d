import ArgumentParser
import Foundation
import JSON
import Definition
import Launch
import Lifecycle
import ObjectModel

/// `igvm-mgr args CONFIG`: the exact QEMU command line `start` would run for a definition.
struct ArgsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "args",
        abstract: "Print the QEMU command line `start` would run for a VM definition.",
        discussion: """
            Runs the same checks as `validate` and `start` (any error: nothing printed, exit 1), \
            then prints the argv the supervisor would spawn, program first: one line quoted for a \
            POSIX shell, or with --json a JSON array of strings. Nothing is started or written. \
            It includes what the supervisor adds: -S, its monitor, and for guests that are \
            relaunched on reset (sev-guest, sev-snp-guest, [vmfwupdate] enabled) -action \
            reboot=shutdown,shutdown=pause and the interface's -fw_cfg files.

            Known only at start: the monitor is descriptor 3, a listening socket the supervisor \
            creates and hands QEMU (pass --qmp-socket PATH to get a command line you can run by \
            hand, with QEMU listening at PATH instead); the -fw_cfg files are written into \
            STATE/NAME/vmfwupdate when the VM starts (--state-dir and --name as for `start`). \
            Host checks (/dev/sev, kvm_amd) and the binary's capability probe are `start`'s.

            Exit status: 0 printed, 1 the definition is invalid, 2 usage error or unreadable file.
            """)

    @Argument(help: "The VM definition (TOML; see docs/config.md).")
    var config: String

    @Option(help: "The VM name (default: the definition's `name`), as for `start`.")
    var name: String?

    @OptionGroup var output: JSONOutput<ArgvJSON>

    enum ArgvJSON: JSONFlagHelp { static let text = "Print a JSON array of strings instead of a shell line." }

    @Option(help: "Put QEMU's monitor on a Unix socket QEMU listens on at this path, to run the command line by hand (default: descriptor 3, as the supervisor runs it).")
    var qmpSocket: String?

    @Option(help: "How -object values are written: json (default, what start runs; immune to comma injection) or key-value.")
    var objectForm: ObjectFormOption = .json

    @OptionGroup var state: StateDirectoryOption

    func run() throws {
        let definition = try DefinitionInput.loadValid(config)
        let directory = try state.resolve()
        let launch: QEMULaunch
        do {
            launch = try QEMULaunch.forStart(definition: definition, name: name, stateDirectory: directory,
                                             writeFiles: false, objectForm: objectForm.form)
        } catch {
            throw failure(error)
        }
        // By hand (--qmp-socket), QEMU creates the console socket too; else the supervisor's descriptor.
        let console = try? QEMULaunch.ConsoleEndpoint(directory.vm(launch.name), inheritedSocket: qmpSocket == nil)
        let argv = launch.argv(monitor: qmpSocket.map { .socket(path: $0) } ?? .inheritedDescriptor, console: console)
        if output.json {
            Output.json(.array(argv.map(JSON.string)))
        } else {
            Output.line(ShellQuoting.line(argv))
        }
    }
}

/// A definition as `start`, `args` and `validate` take it: loaded, then checked by
/// `ConfigValidation`; every error is printed (one line each) and ends the command.
enum DefinitionInput {
    /// The loaded definition, or exit 2 (unreadable, not TOML) or 1 (any error-level problem).
    static func loadValid(_ path: String) throws -> VMDefinition {
        let definition: VMDefinition
        do {
            definition = try ConfigValidation.load(path: path)
        } catch {
            for problem in error.problems { Output.error(problem.description) }
            throw error.kind == .unreadable ? ExitStatus.usage : ExitStatus.failure
        }
        let errors = ConfigValidation.validate(definition).filter(\.level.isError)
        guard errors.isEmpty else {
            for problem in errors { Output.error(problem.description) }
            throw ExitStatus.failure
        }
        return definition
    }
}

enum ObjectFormOption: String, ExpressibleByArgument, CaseIterable {
    case json
    case keyValue = "key-value"

    var form: CommandLineForm { self == .json ? .json : .keyValue }
}
