import ArgumentParser
import JSON
import Logging
import Launch
import Supervisor
import QMP

/// `igvm-mgr qmp`: one QMP command, or a stream of events, on any QMP socket (QEMU's or a
/// supervisor's control socket), or on a supervised VM's control socket by name.
struct QMPShellCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qmp",
        abstract: "Send one QMP command to a socket and print its return value, or print events.",
        discussion: """
            Prints the command's `return` value as JSON. A QMP error exits 1 with `class: desc` on \
            stderr. With --events, prints each event as one JSON line until --timeout, --count or \
            the end of the connection.

            Without --socket the first argument names a VM of the state directory and the \
            command goes through its supervisor's control socket: QEMU's commands pass through, \
            and the supervisor adds x-igvm-mgr-status, x-igvm-mgr-stop {"mode": \
            "acpi|quit|force", "timeout": S} and x-igvm-mgr-events {"tail": N}.

            Examples:
              igvm-mgr qmp my-vm query-status
              igvm-mgr qmp my-vm x-igvm-mgr-events '{"tail": 5}'
              igvm-mgr qmp --socket /run/vm/qmp.sock query-status
              igvm-mgr qmp --socket /run/vm/qmp.sock qom-get '{"path": "/machine", "property": "type"}'
              igvm-mgr qmp --socket /run/vm/qmp.sock --events --name SHUTDOWN --name RESET
            """)

    @Option(name: .long, help: "The QMP Unix socket (instead of a VM name).")
    var socket: String?

    @OptionGroup var state: StateDirectoryOption

    @Argument(help: "The VM whose control socket to use (when --socket is not given).")
    var vm: String?

    @Option(name: .long, help: ArgumentHelp(
        "Give up after this many seconds (0.001 to 86400): waiting for the socket to appear and accept (without --timeout a missing socket is an error at once), the command, or the event stream. Default for a command: \(Int(Self.defaultCommandTimeout.seconds)); --events waits until the stream ends.",
        valueName: "seconds"), transform: NumericOption.seconds(0.001...NumericOption.longestWait))
    var timeout: Duration?

    /// A silent peer never answers: a command gives up after this unless --timeout says otherwise.
    static let defaultCommandTimeout: Duration = .seconds(60)

    @Flag(name: .long, help: "Print the return value on one line.")
    var compact = false

    @Flag(name: .long, help: "Print events as JSON lines instead of running a command.")
    var events = false

    @Option(name: .long, help: "With --events: only events with this name (repeatable).")
    var name: [String] = []

    @Option(name: .long, help: "With --events: stop after this many events (1 to 1000000).",
            transform: NumericOption.integer(1...1_000_000))
    var count: Int?

    @Argument(help: "The QMP command (e.g. query-status).")
    var command: String?

    @Argument(help: "The command's arguments as a JSON object.")
    var arguments: String?

    mutating func validate() throws {
        // With --socket there is no VM name: the positionals shift to COMMAND [ARGS].
        if socket != nil, let first = vm {
            if arguments != nil { throw ValidationError("too many arguments: with --socket give COMMAND [ARGS-JSON]") }
            (vm, command, arguments) = (nil, first, command)
        }
        if socket == nil && vm == nil { throw ValidationError("missing a VM name (or --socket)") }
        if socket == nil && command == nil && !events { throw ValidationError("missing COMMAND (or --events)") }
        if events && command != nil { throw ValidationError("--events takes no COMMAND") }
        if !events && command == nil { throw ValidationError("missing COMMAND (or --events)") }
        if !events && (!name.isEmpty || count != nil) { throw ValidationError("--name and --count need --events") }
    }

    func run() async throws {
        var args: JSONObject?
        if let arguments {
            guard let parsed = try? JSON.decode(arguments), let object = parsed.objectValue else {
                Output.error("ARGS-JSON must be a JSON object, got: \(arguments)")
                throw ExitStatus.usage
            }
            args = object
        }
        let limit = timeout ?? (events ? nil : Self.defaultCommandTimeout)
        var configuration = QMPClient.Configuration()
        if let limit { configuration.greetingTimeout = limit }
        // A socket that is not there yet (QEMU still starting) is waited for only when --timeout
        // asks: by default a wrong path is an error at once, not a minute later.
        if let timeout { configuration.waitForSocket = timeout }
        let path: String
        if let socket {
            path = socket
        } else {
            do { path = try state.resolve().vm(vm!).controlSocket } catch { throw failure(error) }
        }
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(unixSocket: path, configuration: configuration, logger: quietLogger)
        } catch {
            Output.error("\(error)")
            throw ExitStatus.failure
        }
        if events {
            try await printEvents(qmp, limit: limit)
            return
        }
        do {
            let value = try await qmp.execute(command!, args, timeout: limit)
            await qmp.close()
            if compact { Output.line(value.description) } else { Output.json(value) }
        } catch {
            await qmp.close()
            Output.error("\(error)")
            throw ExitStatus.failure
        }
    }

    /// Prints events until --count, --timeout or the end of the connection. An end by the
    /// peer is orderly after a SHUTDOWN event (QEMU quit or powered off: exit 0); without one
    /// (QEMU was killed, the supervisor died) it is an error (exit 1). Every event is watched
    /// for SHUTDOWN, whatever --name prints.
    private func printEvents(_ qmp: QMPClient, limit: Duration?) async throws {
        let subscription = qmp.events()
        let wanted = name.isEmpty ? nil : Set(name)
        let watchdog = limit.map { limit in
            Task {
                try await Task.sleep(for: limit)
                subscription.cancel()
            }
        }
        defer { watchdog?.cancel() }
        var printed = 0
        var sawShutdown = false
        do {
            for try await event in subscription {
                if event.runState == .shutdown { sawShutdown = true }
                guard wanted?.contains(event.name) ?? true else { continue }
                Output.line(event.json.description)
                Output.flush()
                printed += 1
                if let count, printed >= count { break }
            }
        } catch QMPClientError.interrupted(_, let cause) where cause.peerWentAway {
            guard sawShutdown else {
                Output.error("connection closed by the peer without a SHUTDOWN event (\(cause))")
                throw ExitStatus.failure
            }
        } catch {
            Output.error("\(error)")
            throw ExitStatus.failure
        }
        await qmp.close()
    }
}

/// The library's logger for CLI use: only real problems reach stderr, not connection chatter.
let quietLogger: Logger = {
    var logger = Logger(label: "igvm-mgr")
    logger.logLevel = .error
    return logger
}()
