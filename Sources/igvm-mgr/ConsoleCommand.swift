import ArgumentParser
import FileAccess
import Foundation
import JSON
import VMState

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr console NAME`: the terminal attached to the guest's serial console (`[console]`),
/// like `virsh console`: raw mode, `Ctrl-]` detaches; one interactive attachment at a time.
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach to a VM's serial console ([console]); Ctrl-] detaches.",
        discussion: """
            The supervisor relays the guest's first serial port: it logs everything the guest \
            prints (whether or not anyone is attached) and lets one client attach. The terminal \
            goes into raw mode and every byte goes to the guest; Ctrl-] (0x1d) detaches, as in \
            `virsh console`. With stdin not a terminal, bytes pass through unchanged until stdin \
            ends. A second attachment is refused, naming the holder's pid; --force takes the \
            console over (the other `igvm-mgr console` is told and exits). An attachment \
            outlives a relaunch of QEMU (vmfwupdate). --log prints the log in the VM's folder \
            (kept across runs) instead.

            """ + LifecycleHelp.exitCodes)

    @Argument(help: "The VM name.") var name: String
    @Flag(help: "Print the console log instead of attaching.") var log = false
    @Flag(help: "Take the console over from another attached `igvm-mgr console`.") var force = false
    @OptionGroup var state: StateDirectoryOption

    /// Ctrl-], the escape character of `virsh console` and telnet.
    static let escapeByte: UInt8 = 0x1d

    func run() throws {
        let paths = try state.observe(name).paths
        if log {
            ConsoleLog.print(paths)
            return
        }
        guard FileManager.default.fileExists(atPath: paths.consoleSocket) else {
            Output.error("VM \(name) has no console socket: its definition has no [console], or it is not running")
            throw ExitStatus.failure
        }
        let socket: Int32
        do {
            socket = try UnixSocketAddress.connect(paths.consoleSocket)
        } catch where error.code == ECONNREFUSED {
            throw CommandLineFailure.failure("the console of \(name) is not served: its supervisor is not running (see `igvm-mgr status \(name)`)")
        } catch {
            throw CommandLineFailure.failure(error.description)
        }
        defer { close(socket) }
        let early = try ConsoleAttachment.attach(socket, force: force, name: name)
        let terminal = isatty(STDIN_FILENO) == 1 ? RawTerminal() : nil
        if terminal != nil { FileHandle.standardError.write(Data("Connected to \(TerminalText.escape(name))'s console; Ctrl-] detaches.\r\n".utf8)) }
        _ = ConsoleAttachment.writeAll(STDOUT_FILENO, early[...])
        var last: [UInt8] = []
        let ended = ConsoleAttachment.relay(socket: socket, interactive: terminal != nil, lastBytes: &last)
        terminal?.restore()
        guard ended == .closed else { return }
        // Why the console closed: the relay's takeover notice is the last thing it sends before it
        // closes a connection for a takeover; when the VM ends the supervisor removes the socket
        // before it closes the attachment; a close with neither is a supervisor that died (its
        // socket file stays; asking whether it still listens would race its exit).
        if String(decoding: last, as: UTF8.self).contains(ConsoleAttachment.takeoverNotice) {
            Output.error("the console of \(name) was taken over (--force)")
        } else if !FileManager.default.fileExists(atPath: paths.consoleSocket) {
            Output.error("the console of \(name) closed (the VM stopped)")
        } else {
            Output.error("the console of \(name) closed: its supervisor is gone (see `igvm-mgr status \(name)`)")
            throw ExitStatus.failure
        }
    }
}

/// What `logs --console` and `console --log` print: the guest's output, line by line.
enum ConsoleLog {
    static func print(_ paths: VMPaths, tail: Int? = nil) {
        let bytes = (try? FileDescriptorIO.readFile(paths.consoleLog)).flatMap { $0 } ?? []
        // Split on bytes: in Swift's String "\r\n" is one Character, never equal to "\n".
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        if lines.last?.isEmpty == true { lines.removeLast() }
        for line in tail.map({ lines.suffix($0) }) ?? lines[...] { Output.line(String(decoding: line, as: UTF8.self)) }
    }
}

/// The terminal in raw mode (cfmakeraw) until `restore`.
final class RawTerminal {
    private var saved = termios()

    init?() {
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 else { return nil }
    }

    func restore() { _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
}

enum ConsoleAttachment {
    enum End { case detached, inputEnded, closed }

    /// How long the supervisor gets to answer the attach request.
    static let answerTimeout: Int32 = 10_000

    /// Asks the supervisor's console relay for the attachment (`force`: take it over); returns
    /// the guest output that followed the answer in the same read.
    static func attach(_ socket: Int32, force: Bool, name: String) throws -> [UInt8] {
        let request: JSON = ["attach": ["force": .bool(force), "pid": JSON(Int(getpid()))]]
        let line = Array(((try? request.encoded()) ?? "{}").utf8) + [0x0A]
        guard writeAll(socket, line[...]) else { throw CommandLineFailure.failure("cannot write to the console of \(name): \(String(cString: strerror(errno)))") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var waiting = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while !received.contains(0x0A) {
            let ready = poll(&waiting, 1, answerTimeout)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw CommandLineFailure.failure("the console of \(name) did not answer within \(answerTimeout / 1000) s") }
            let n = read(socket, &buffer, buffer.count)
            guard n > 0 else { throw CommandLineFailure.failure("the console of \(name) closed before answering") }
            received += buffer[..<n]
        }
        let newline = received.firstIndex(of: 0x0A)!
        let answer = try? JSON.decode(bytes: Array(received[..<newline]))
        if let error = answer?["error"]?["desc"]?.stringValue { throw CommandLineFailure.failure(TerminalText.escape(error)) }
        guard answer?["return"] != nil else { throw CommandLineFailure.failure("the console of \(name) answered something else than an attachment") }
        return Array(received[(newline + 1)...])
    }

    /// The start of the line the supervisor's relay sends a client it detaches for a takeover
    /// (`ConsoleRelay.attach`).
    static let takeoverNotice = "[igvm-mgr: the console was taken over"

    /// `lastBytes`: the last bytes received from the console (up to 256).
    static func relay(socket: Int32, interactive: Bool, lastBytes: inout [UInt8]) -> End {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
                if errno == EINTR { continue }
                return .closed
            }
            if fds[1].revents != 0 {
                let n = read(socket, &buffer, buffer.count)
                if n <= 0 { return .closed }
                lastBytes = Array((lastBytes + buffer[..<n]).suffix(256))
                guard writeAll(STDOUT_FILENO, buffer[..<n]) else { return .inputEnded }
            }
            if fds[0].revents != 0 {
                let n = read(STDIN_FILENO, &buffer, buffer.count)
                if n <= 0 { return .inputEnded }
                var chunk = buffer[..<n]
                var detach = false
                if interactive, let escape = chunk.firstIndex(of: ConsoleCommand.escapeByte) {
                    chunk = chunk[..<escape]
                    detach = true
                }
                guard writeAll(socket, chunk) else { return .closed }
                if detach { return .detached }
            }
        }
    }

    /// Writes every byte (`FileDescriptorIO.writeAll`); false when the other end is gone.
    static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        (try? FileDescriptorIO.writeAll(fd, Array(bytes), subject: "")) != nil
    }
}
