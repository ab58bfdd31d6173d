import ArgumentParser
import FileAccess
import Foundation
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
            The terminal goes into raw mode and every byte goes to the guest's first serial port;
            Ctrl-] (0x1d) detaches, as in `virsh console`. With stdin not a terminal, bytes pass
            through unchanged until stdin ends. One attachment at a time: --force makes the
            attached `igvm-mgr console` detach and takes over. --log prints what the guest has
            printed (the log in the VM's folder, kept across relaunches) instead.

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
        let lock = try ConsoleAttachment.acquire(paths, force: force)
        defer { close(lock) }
        let socket = try ConsoleAttachment.connect(paths.consoleSocket)
        defer { close(socket) }
        let terminal = isatty(STDIN_FILENO) == 1 ? RawTerminal() : nil
        if terminal != nil { FileHandle.standardError.write(Data("Connected to \(TerminalText.escape(name))'s console; Ctrl-] detaches.\r\n".utf8)) }
        let ended = ConsoleAttachment.relay(socket: socket, interactive: terminal != nil)
        terminal?.restore()
        if ended == .vmClosed { Output.error("the console of \(name) closed (the VM stopped)") }
        if ended == .takenOver { Output.error("the console of \(name) was taken over (--force)") }
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

/// The write end of the pipe SIGHUP's handler writes to, so that the relay loop sees a
/// takeover (--force) and restores the terminal before it exits.
nonisolated(unsafe) private var takeoverPipe: [Int32] = [-1, -1]

enum ConsoleAttachment {
    enum End { case detached, inputEnded, vmClosed, takenOver }

    /// `flock`s STATE/NAME/console.lock (holding our pid) for the attachment's life; with
    /// `force`, the holder gets SIGHUP (it detaches) and the lock is waited for.
    static func acquire(_ paths: VMPaths, force: Bool) throws -> Int32 {
        let path = paths.folder + "/console.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandLineFailure.failure("cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? FileDescriptorIO.readFile(path)).flatMap { $0 }.flatMap { Int32(String(decoding: $0, as: UTF8.self)) }
            guard force else {
                close(fd)
                throw CommandLineFailure.failure("the console of \(paths.name) is attached elsewhere\(holder.map { " (pid \($0))" } ?? ""); --force takes it over")
            }
            if let holder, holder > 0 { kill(holder, SIGHUP) }
            guard flock(fd, LOCK_EX) == 0 else { throw CommandLineFailure.failure("cannot lock \(path)") }
        }
        let pid = Array("\(getpid())".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return fd
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard fd >= 0, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw CommandLineFailure.failure("cannot use the console socket \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard connected else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CommandLineFailure.failure("cannot connect to the console socket \(path): \(reason)")
        }
        return fd
    }

    /// Copies stdin to the console and the console to stdout until Ctrl-] (interactive), the
    /// end of stdin (not interactive), the VM closing the socket, or a takeover.
    static func relay(socket: Int32, interactive: Bool) -> End {
        var pipeFDs: [Int32] = [-1, -1]
        if pipe(&pipeFDs) == 0 {
            for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
            takeoverPipe = pipeFDs
            signal(SIGHUP) { _ in var b: UInt8 = 1; _ = write(takeoverPipe[1], &b, 1) }
            // A parent may have left SIGHUP blocked (the mask is inherited): the takeover needs it.
            var hup = sigset_t()
            sigemptyset(&hup)
            sigaddset(&hup, SIGHUP)
            sigprocmask(SIG_UNBLOCK, &hup, nil)
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
                if errno == EINTR { continue }
                return .vmClosed
            }
            if fds[2].revents != 0 { return .takenOver }
            if fds[1].revents != 0 {
                let n = read(socket, &buffer, buffer.count)
                if n <= 0 { return .vmClosed }
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
                guard writeAll(socket, chunk) else { return .vmClosed }
                if detach { return .detached }
            }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            rest = rest.dropFirst(n)
        }
        return true
    }
}
