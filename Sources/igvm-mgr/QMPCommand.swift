import ArgumentParser
import JSON
import Launch
import QMP

/// `igvm-mgr qmp NAME COMMAND [ARGS-JSON]`.
struct QMPPassThroughCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qmp",
        abstract: "Run a QMP command through a VM's control socket and print its return value as JSON.",
        discussion: """
            QEMU's commands pass through to the VM's monitor; the supervisor adds \
            x-igvm-mgr-status, x-igvm-mgr-stop {"mode": "acpi|quit|force", "timeout": S} and \
            x-igvm-mgr-events {"tail": N}. The control socket (STATE_DIR/NAME/control.sock) speaks \
            QMP, so qmp-shell and Python qemu.qmp can script it too. A QMP error prints its class \
            and description.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VM name.") var name: String
    @Argument(help: "The QMP command, e.g. query-status.") var command: String
    @Argument(help: "The command's arguments as a JSON object.") var arguments: String?
    @Option(help: "Seconds to wait for the reply.") var timeout: Double = 60
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        var parsed: JSONObject?
        if let arguments {
            do {
                guard let object = try JSON.decode(arguments).objectValue else {
                    Output.error("the arguments must be a JSON object, got \(arguments)")
                    throw ExitStatus.usage
                }
                parsed = object
            } catch let error as JSONDecodingError {
                Output.error("the arguments are not JSON: \(error)")
                throw ExitStatus.usage
            }
        }
        let lifecycle = Lifecycle(stateDirectory: try state.resolve())
        do {
            Output.json(try await lifecycle.qmp(name, command: command, arguments: parsed, timeout: timeout))
        } catch let error as QMPCommandError {
            Output.error("\(command) failed: \(error.errorClass): \(error.desc)")
            throw ExitStatus.failure
        } catch {
            throw failure(error)
        }
    }
}
