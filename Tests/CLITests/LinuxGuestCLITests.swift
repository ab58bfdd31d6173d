import Foundation
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The small Linux guest of scripts/linux-guest/build (Debian's kernel, a busybox initramfs)
/// under real QEMU (TCG), driven as a user drives it: `igvm-mgr start`, its serial console,
/// its disk and network, `stop`, and the guest's own `reboot` and `poweroff`. One guest at a
/// time: each TCG boot takes a core, and several at once starve the timing of other suites.
@Suite("Linux guest (real QEMU)", .serialized)
struct LinuxGuestCLITests {
    /// The guest's images; the tests are skipped (with a message) when they were not built.
    static let images = TestPaths.packageRoot.appendingPathComponent("configs/images/linux").path
    static var imagesBuilt: Bool {
        ["vmlinuz", "initrd.img", "disk.raw"].allSatisfy { FileManager.default.fileExists(atPath: images + "/" + $0) }
    }

    /// A state directory and config folder under /tmp with short paths (socket paths ≤ 107 bytes).
    struct Guest {
        let root: String
        let name: String
        let port: Int
        var stateDir: String { root + "/s" }
        var folder: String { "\(stateDir)/\(name)" }
        var consoleLog: String { folder + "/console.log" }

        /// Writes a definition like configs/linux-tcg.toml, with `disk` as its disk (`diskKeys`:
        /// more lines of its table) and the guest's echo port forwarded to a free host port.
        init(name: String = "lx", disk: (file: String, format: String)? = nil, diskKeys: String = "") throws {
            root = "/tmp/im-" + UUID().uuidString.prefix(8).lowercased()
            self.name = name
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            port = try freeTCPPort()
            let images = LinuxGuestCLITests.images
            var diskFile = root + "/disk.raw"
            var format = "raw"
            if let disk { (diskFile, format) = disk } else { try FileManager.default.copyItem(atPath: images + "/disk.raw", toPath: diskFile) }
            let text = """
                name = "\(name)"
                [qemu]
                binary = "\(try QEMU.binary())"
                accel = "tcg"
                memory = "256M"
                [kernel]
                kernel = "\(images)/vmlinuz"
                initrd = "\(images)/initrd.img"
                append = "console=ttyS0 panic=-1 quiet"
                [[disk]]
                file = \(JSON.string(diskFile))
                format = "\(format)"
                \(diskKeys)
                [[nic]]
                type = "user"
                hostfwd = ["tcp:127.0.0.1:\(port)-:7777"]
                [console]
                """
            try text.write(toFile: config, atomically: true, encoding: .utf8)
        }

        var config: String { root + "/\(name).toml" }

        @discardableResult
        func run(_ arguments: [String]) throws -> ProcessResult {
            try IGVMManagerBinary.run(arguments + ["--state-dir", stateDir])
        }

        /// What the guest printed on its console so far.
        var console: String { (try? String(contentsOfFile: consoleLog, encoding: .utf8)) ?? "" }

        /// Waits until the console log holds `text` after `offset` bytes.
        func waitForConsole(_ text: String, after offset: Int = 0, timeout: Double = 90) async -> Bool {
            await eventually(timeout: .seconds(timeout)) {
                let c = Array(console.utf8)
                return offset <= c.count && String(decoding: c[offset...], as: UTF8.self).contains(text)
            }
        }

        /// The attachment to the console socket (through the supervisor's relay), kept open.
        /// A reader drains what the guest prints, as a client should (the tests read the
        /// console log instead); the relay would otherwise count it as missed output.
        final class Connection: @unchecked Sendable {
            private(set) var fd: Int32 = -1

            func open(_ path: String) throws {
                let (fd, error) = connectUnixSocket(path)
                guard fd >= 0 else { throw CommandFailed(description: "console socket: errno \(error)") }
                self.fd = fd
                // The relay takes raw bytes once it has granted the attachment.
                let request = Array("{\"attach\": {\"force\": true}}\n".utf8)
                guard write(fd, request, request.count) == request.count else { throw CommandFailed(description: "console write failed") }
                var deadline = timeval(tv_sec: 10, tv_usec: 0)  // the answer's deadline
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
                var answer: [UInt8] = []
                var byte: UInt8 = 0
                while byte != 0x0A, read(fd, &byte, 1) == 1 { answer.append(byte) }
                guard String(decoding: answer, as: UTF8.self).hasPrefix("{\"return\"") else {
                    throw CommandFailed(description: "console attachment refused: \(String(decoding: answer, as: UTF8.self))")
                }
                var none = timeval()  // the drain below waits as long as the VM runs
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
                // The reader owns a duplicate, so that close() never leaves it reading a reused number.
                let reader = dup(fd)
                guard reader >= 0 else { throw CommandFailed(description: "dup: errno \(errno)") }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while read(reader, &buffer, buffer.count) > 0 {}
                    Glibc.close(reader)
                }
            }

            /// Ends the reader too: after shutdown its read returns 0.
            func close() {
                guard fd >= 0 else { return }
                shutdown(fd, Int32(SHUT_RDWR))
                Glibc.close(fd)
                fd = -1
            }

            deinit { close() }
        }
        let connection = Connection()

        /// Types `line` on the guest's serial console (its socket in the VM's folder).
        func type(_ line: String) throws {
            if connection.fd < 0 { try connection.open(folder + "/console.sock") }
            let bytes = Array((line + "\n").utf8)
            guard write(connection.fd, bytes, bytes.count) == bytes.count else { throw CommandFailed(description: "console write failed") }
        }

        /// Waits until the guest has booted (after `offset`) and its shell prompts for input.
        func waitForPrompt(after offset: Int = 0) async -> Bool {
            guard await waitForConsole("igvm-guest: ready", after: offset) else { return false }
            return await waitForConsole("guest# ", after: offset)
        }

        /// Types `command`, waits for each of `expected` in what follows, then for the shell's
        /// next prompt after them, so that the next command starts at a fresh prompt rather
        /// than while this one still runs.
        func exchange(_ command: String, expect expected: String, timeout: Double = 30) async throws -> Bool {
            try await exchange(command, expect: [expected], timeout: timeout)
        }

        func exchange(_ command: String, expect expected: [String], timeout: Double = 30) async throws -> Bool {
            let offset = console.utf8.count
            try type(command)
            var end = offset
            for text in expected {
                guard await waitForConsole(text, after: offset, timeout: timeout) else { return false }
                end = max(end, Self.end(of: text, in: Array(console.utf8), after: offset) ?? end)
            }
            return await waitForConsole("guest# ", after: end, timeout: timeout)
        }

        /// The byte offset just past the first `text` in `bytes` after `offset`.
        static func end(of text: String, in bytes: [UInt8], after offset: Int) -> Int? {
            let needle = Array(text.utf8)
            guard !needle.isEmpty, bytes.count >= needle.count, offset <= bytes.count - needle.count else { return nil }
            for start in offset...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) {
                return start + needle.count
            }
            return nil
        }

        func tearDown() {
            connection.close()
            _ = try? run(["stop", name, "--mode", "force"])
            _ = try? run(["destroy", name])
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// Boots to the shell prompt, runs a command typed on the console, and `stop` (default
    /// mode) ends it by ACPI: the guest's acpid powers it off.
    @Test(.enabled(if: imagesBuilt, "run scripts/linux-guest/build first"))
    func bootsToPromptAndStopsByACPI() async throws {
        let guest = try Guest()
        defer { guest.tearDown() }
        let started = try guest.run(["start", guest.config])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(await guest.waitForPrompt(), "console: \(guest.console)")
        #expect(try await guest.exchange("echo answer-$((6 * 7))", expect: "answer-42"))
        // status lists the devices: disk, NIC with its MAC and forwarded port, the console.
        let devices = try JSON.decode(try guest.run(["status", guest.name, "--json"]).stdout)["devices"]
        #expect(devices?["disks"]?[0]?["format"] == "raw")
        #expect(devices?["disks"]?[0]?["interface"] == "virtio-blk")
        #expect(devices?["nics"]?[0]?["hostfwd"]?[0]?.stringValue == "tcp:127.0.0.1:\(guest.port)-:7777")
        #expect(devices?["nics"]?[0]?["mac"]?.stringValue?.count == 17)
        #expect(devices?["console"]?["log"]?.stringValue == guest.consoleLog)
        let text = try guest.run(["status", guest.name]).stdout
        #expect(text.contains("disks:") && text.contains("nics:") && text.contains("console:"), "\(text)")
        let stopped = try guest.run(["stop", guest.name])
        #expect(stopped.status == 0)
        #expect(stopped.stdout.contains("ended by acpi"), "\(stopped.stdout) \(stopped.stderr)")
        let status = try guest.run(["status", guest.name])
        #expect(status.stdout.contains("ended by acpi"), "\(status.stdout)")

        // The console log is kept across runs: a second boot appends to it.
        #expect(try guest.run(["start", guest.config]).status == 0)
        let twice = await eventually(timeout: .seconds(90)) { guest.console.components(separatedBy: "igvm-guest: ready").count == 3 }
        #expect(twice, "\(guest.console)")
        #expect(guest.console.contains("answer-42"))
    }

    /// `igvm-mgr console` on a pty (raw mode): a command typed there runs in the guest and its
    /// output comes back; Ctrl-] detaches. A second attachment is refused until --force takes
    /// the console over; `logs --console` prints what the guest printed.
    @Test(.enabled(if: imagesBuilt, "run scripts/linux-guest/build first"))
    func consoleOnAPty() async throws {
        let guest = try Guest()
        defer { guest.tearDown() }
        #expect(try guest.run(["start", guest.config]).status == 0)
        #expect(await guest.waitForPrompt(), "console: \(guest.console)")

        let first = try PtyProcess(IGVMManagerBinary.path(), ["console", guest.name, "--state-dir", guest.stateDir])
        #expect(await first.waitForOutput("Ctrl-] detaches"))
        try first.type("echo pty-$((6 * 7))\r")
        #expect(await first.waitForOutput("pty-42"), "\(first.output)")

        let refused = try guest.run(["console", guest.name])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("attached elsewhere"), "\(refused.stderr)")

        let second = try PtyProcess(IGVMManagerBinary.path(), ["console", guest.name, "--force", "--state-dir", guest.stateDir])
        #expect(await first.waitForExit(), "the first attachment ends when --force takes over")
        #expect(first.output.contains("taken over"))
        #expect(await second.waitForOutput("Ctrl-] detaches"))
        try second.type("echo second-$((6 * 7))\r")
        #expect(await second.waitForOutput("second-42"), "\(second.output)")
        try second.type("\u{1d}")
        #expect(await second.waitForExit())
        #expect(second.process.terminationStatus == 0)

        let logs = try guest.run(["logs", guest.name, "--console", "--tail", "50"])
        #expect(logs.stdout.contains("second-42"))
    }

    /// Network: the guest's DHCP address from user-mode networking, and bytes exchanged with its
    /// echo service through the forwarded port. Then a guest `reboot` keeps the VM running (a
    /// RESET is recorded) and a guest `poweroff` ends it with the guest's reason.
    @Test(.enabled(if: imagesBuilt, "run scripts/linux-guest/build first"))
    func networkRebootAndPoweroff() async throws {
        let guest = try Guest()
        defer { guest.tearDown() }
        #expect(try guest.run(["start", guest.config]).status == 0)
        #expect(await guest.waitForConsole("igvm-guest: eth0 10.0.2.15/24"), "console: \(guest.console)")
        #expect(await guest.waitForPrompt())
        let echoed = await eventually(timeout: .seconds(30)) { () -> String? in
            let reply = Self.echo("hello through hostfwd\n", port: guest.port)
            return reply.isEmpty ? nil : reply
        }
        #expect(echoed == "hello through hostfwd\n")

        let offset = guest.console.utf8.count
        try guest.type("reboot")
        #expect(await guest.waitForPrompt(after: offset), "the guest came back after its reboot")
        let events = try String(contentsOfFile: guest.folder + "/events.jsonl", encoding: .utf8)
        #expect(events.contains("\"RESET\""))
        #expect(try guest.run(["status", guest.name]).stdout.contains("running"))

        try guest.type("poweroff")
        let ended = await eventually(timeout: .seconds(60)) { () -> String? in
            let s = (try? guest.run(["status", guest.name]).stdout) ?? ""
            return s.contains("phase:          running") ? nil : s
        }
        let status = try #require(ended)
        #expect(status.contains("guest-shutdown"), "\(status)")
    }

    /// How each disk interface shows in the guest: its block device, and a command whose
    /// output (`shows`, which the command's own text does not contain, since the console
    /// echoes it) proves the disk sits on that bus.
    static let interfaces: [String: (keys: String, device: String, check: String, shows: [String])] = [
        "virtio-blk": ("", "/dev/vda", "readlink -f /sys/block/v?a", ["/virtio", "/block/vda"]),
        // A SCSI disk (sd driver) on target 0:0:0 of a SCSI host driven by virtio_scsi.
        "virtio-scsi": ("interface = \"virtio-scsi\"", "/dev/sda",
                        "readlink -f /sys/block/s?a; cat /sys/class/scsi_host/host0/proc_name",
                        ["/host0/target0:0:0/0:0:0:0/block/sda", "virtio_scsi\r\n"]),
        // An NVMe controller's namespace 1, with the serial the definition gave it.
        "nvme": ("interface = \"nvme\"\nserial = \"IGVM-NV1\"", "/dev/nvme0n1",
                 "ls /sys/block; cat /sys/class/nvme/nvme*/transport; tr -d ' ' < /sys/class/nvme/nvme0/serial",
                 ["nvme0n1", "pcie\r\n", "IGVM-NV1\r\n"]),
    ]

    /// Marker round trip through a raw and a qcow2 disk on each interface: the host writes
    /// one, the guest reads it from the interface's block device and writes another, which the
    /// host reads after `stop`.
    @Test(.enabled(if: imagesBuilt, "run scripts/linux-guest/build first"),
          arguments: [("raw", "virtio-blk"), ("qcow2", "virtio-blk"), ("qcow2", "virtio-scsi"), ("raw", "nvme")])
    func diskMarkers(format: String, interface: String) async throws {
        let bus = try #require(Self.interfaces[interface])
        let scratch = "/tmp/im-d" + UUID().uuidString.prefix(6).lowercased()
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let raw = scratch + "/disk.raw"
        try FileManager.default.copyItem(atPath: Self.images + "/disk.raw", toPath: raw)
        let hostMarker = "host-marker-\(UUID().uuidString.prefix(8))"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: raw))
        try handle.write(contentsOf: Data((hostMarker + "\n").utf8))
        try handle.close()
        let qemuImg = "/usr/bin/qemu-img"
        var disk = raw
        if format == "qcow2" {
            disk = scratch + "/disk.qcow2"
            #expect(try TestProcess.run(qemuImg, ["convert", "-f", "raw", "-O", "qcow2", raw, disk]).status == 0)
        }
        let guest = try Guest(disk: (disk, format), diskKeys: bus.keys)
        defer { guest.tearDown() }
        #expect(try guest.run(["start", guest.config]).status == 0)
        #expect(await guest.waitForPrompt(), "console: \(guest.console)")
        #expect(try await guest.exchange(bus.check, expect: bus.shows), "\(interface): \(bus.shows) in \(guest.console)")
        #expect(try await guest.exchange("head -c 64 \(bus.device) | head -n 1", expect: hostMarker + "\r\n"))
        let guestMarker = "guest-marker-\(UUID().uuidString.prefix(8))"
        // The guest's "done" comes from $((…)), so the echoed command line cannot match it.
        #expect(try await guest.exchange("echo \(guestMarker) | dd of=\(bus.device) bs=512 seek=1 conv=fsync && echo done-$((40 + 2))", expect: "done-42"),
                "\(guest.console)")
        #expect(try guest.run(["stop", guest.name]).status == 0)
        var readBack = disk
        if format == "qcow2" {
            readBack = scratch + "/back.raw"
            #expect(try TestProcess.run(qemuImg, ["convert", "-f", "qcow2", "-O", "raw", disk, readBack]).status == 0)
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: readBack))
        #expect(String(decoding: bytes[512..<(512 + guestMarker.utf8.count)], as: UTF8.self) == guestMarker)
    }

    /// Sends `text` to 127.0.0.1:`port` and reads until the peer has echoed as many bytes
    /// (empty when nobody answers yet).
    static func echo(_ text: String, port: Int) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return "" }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { return "" }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < bytes.count {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// A program with a pseudo-terminal as its stdin, stdout and stderr, as a user's shell runs it.
final class PtyProcess: @unchecked Sendable {
    let process = Process()
    private let master: Int32
    private var collected: [UInt8] = []

    init(_ executable: String, _ arguments: [String]) throws {
        // posix_openpt/grantpt/unlockpt/ptsname by hand (Swift's Glibc module lacks them):
        // the multiplexer, unlock (TIOCSPTLCK 0), the number (TIOCGPTN) names /dev/pts/N.
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        // _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int), include/uapi/asm-generic/ioctls.h.
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        guard master >= 0, ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
            throw CommandFailed(description: "no pseudo-terminal")
        }
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw CommandFailed(description: "cannot open the pty") }
        let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = handle
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        close(master)
    }

    /// Everything the program wrote so far (reads what is waiting, without blocking).
    var output: String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
        while poll(&fds, 1, 0) > 0 && fds[0].revents & Int16(POLLIN) != 0 {
            let n = read(master, &buffer, buffer.count)
            if n <= 0 { break }
            collected += buffer[..<n]
        }
        return String(decoding: collected, as: UTF8.self)
    }

    func type(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard write(master, bytes, bytes.count) == bytes.count else { throw CommandFailed(description: "pty write failed") }
    }

    func waitForOutput(_ text: String, timeout: Double = 30) async -> Bool {
        await eventually(timeout: .seconds(timeout)) { self.output.contains(text) }
    }

    func waitForExit(timeout: Double = 15) async -> Bool {
        await eventually(timeout: .seconds(timeout)) { !self.process.isRunning }
    }
}
