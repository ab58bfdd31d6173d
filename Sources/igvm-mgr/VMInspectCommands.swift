import FileAccess
import ArgumentParser
import JSON
import Definition
import Launch
import VMState
import Supervisor
import FirmwareUpdate
import Lifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `igvm-mgr list`.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every VM in the state directory with its phase, pid, uptime and config.",
        discussion: """
            Phases: starting, running, paused, stopping, stopped, failed, crashed; and, when the \
            record and the processes disagree, orphaned (QEMU runs, its supervisor is gone) or lost \
            (both are gone without an exit record). `cleanup` settles the last two.

            \(LifecycleHelp.exitCodes)
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let observations = VMObservation.observeAll(in: try state.resolve())
        if output.json {
            Output.json(.array(observations.map(\.json)))
            return
        }
        var rows = [["NAME", "PHASE", "PID", "UPTIME", "CONFIG"]]
        for o in observations {
            rows.append([
                o.name, o.phase.rawValue, o.qemuAlive ? o.state?.qemu.map { String($0.pid) } ?? "-" : "-",
                o.uptimeSeconds.map(Table.duration) ?? "-", o.state?.definitionSource ?? "-",
            ])
        }
        Table.print(rows)
        for o in observations where o.phase == .orphaned || o.phase == .lost {
            Output.line("\(o.name): \(o.explanation ?? "")")
        }
    }
}

/// `igvm-mgr status NAME`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show one VM: phase, QEMU version, confidential type, firmware, QMP status, last exit, last events.",
        discussion: LifecycleHelp.exitCodes)

    @Argument(help: "The VM name.") var name: String
    @Option(help: "How many recent events to show (0 to 10000).", transform: NumericOption.integer(0...10_000))
    var events = 5
    @OptionGroup var output: OutputOptions
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let lifecycle = try state.lifecycle()
        let report: Lifecycle.StatusReport
        do { report = try await lifecycle.status(name, events: events) } catch { throw failure(error) }
        if output.json {
            Output.json(report.json)
            return
        }
        let o = report.observation
        let s = o.state
        var rows: [[String]] = [
            ["name", o.name],
            ["phase", o.phase.rawValue + (o.explanation.map { " — \($0)" } ?? "")],
            ["pid", o.qemuAlive ? s?.qemu.map { String($0.pid) } ?? "-" : "-"],
            ["supervisor", o.supervisorAlive ? s?.supervisor.map { String($0.pid) } ?? "-" : "-"],
            ["qemu", s?.qemuVersion ?? "-"],
            ["confidential", s?.confidentialType ?? "none"],
            ["launch digest", s?.launchMeasurement?.description ?? "-"],
            ["firmware", s?.firmware ?? "QEMU's default"],
            ["vmfwupdate", s?.vmfwupdate.map { FirmwareUpdateStatusText.line($0, supervisorAlive: o.supervisorAlive) } ?? "-"],
            ["qmp status", report.qmpStatus?["status"]?.stringValue ?? "-"],
            ["started", s?.startedAt ?? "-"],
            ["uptime", o.uptimeSeconds.map(Table.duration) ?? "-"],
        ]
        rows += DeviceRows.rows(report.devices)
        if let exit = s?.lastExit {
            rows.append(["last exit", "\(exit.termination), \(exit.reason)" + (exit.stopStep.map { ", ended by \($0)" } ?? "") + " at \(exit.at)"])
            for line in exit.outputTail.suffix(5) { rows.append(["", "qemu: \(line)"]) }
        }
        Table.print(rows.map { [$0[0] + (($0[0].isEmpty) ? "" : ":"), $0[1]] }, header: false)
        if !report.lastEvents.isEmpty {
            Output.line("last events:")
            for event in report.lastEvents { Output.line("  " + EventText.line(event)) }
        }
    }
}

/// `status`'s lines for the guest's devices: one per disk and NIC, the vsock CID, the console.
enum DeviceRows {
    static func rows(_ devices: JSON) -> [[String]] {
        guard devices != .null else { return [] }
        var rows: [[String]] = []
        for (i, disk) in (devices["disks"]?.arrayValue ?? []).enumerated() {
            let ro = disk["readonly"] == true ? ", read-only" : ""
            rows.append([i == 0 ? "disks" : "", "\(disk["file"]?.stringValue ?? "?") (\(disk["format"]?.stringValue ?? "?"), \(disk["interface"]?.stringValue ?? "?")\(ro))"])
        }
        for (i, nic) in (devices["nics"]?.arrayValue ?? []).enumerated() {
            let type = nic["type"]?.stringValue ?? "?"
            let detail = type == "tap" ? "ifname \(nic["ifname"]?.stringValue ?? "?")"
                : "hostfwd " + ((nic["hostfwd"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " ").nonEmpty ?? "none")
            rows.append([i == 0 ? "nics" : "", "\(type) \(nic["mac"]?.stringValue ?? "?") \(detail)"])
        }
        if let cid = devices["vsock-guest-cid"]?.intValue { rows.append(["vsock", "guest-cid \(cid)"]) }
        if let console = devices["console"], let socket = console["socket"]?.stringValue {
            var attachment = ""
            switch console["attached"] {
            case .bool(true): attachment = "; attached" + (console["attached-pid"]?.intValue.map { " (pid \($0))" } ?? "")
            case .bool(false): attachment = "; not attached"
            default: break
            }
            rows.append(["console", "\(socket) (log \(console["log"]?.stringValue ?? "?"))\(attachment)"])
        }
        return rows
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// `igvm-mgr events NAME`.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print a VM's event log (QEMU's QMP events and the supervisor's steps); --follow keeps printing new ones.",
        discussion: """
            --follow ends when the VM's supervisor has exited and everything it wrote was printed. \
            With --json every event is printed as one JSON line.

            \(LifecycleHelp.exitCodes)
            """)

    @Argument(help: "The VM name.") var name: String
    @Flag(help: "Keep printing new events as they are logged.") var follow = false
    @Option(name: .customLong("name"), help: "Only events with this name (repeatable).") var eventNames: [String] = []
    @OptionGroup var output: JSONOutput<JSONLines>
    @OptionGroup var state: StateDirectoryOption

    enum JSONLines: JSONFlagHelp { static let text = "Print JSON lines." }

    func run() async throws {
        let observation = try state.observe(name)
        var follower = EventLogFollower(path: observation.paths.eventLog)
        let wanted = Set(eventNames)
        func printNew() {
            for record in follower.readNew() where wanted.isEmpty || wanted.contains(record["event"]?.stringValue ?? "") {
                Output.line(output.json ? ((try? record.encoded()) ?? "") : EventText.line(record))
            }
            Output.flush()
        }
        while true {
            printNew()
            guard follow else { return }
            if !VMLock.isHeld(observation.paths.lock) {
                printNew()
                return
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }
}

/// `igvm-mgr logs NAME`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print what QEMU wrote to stdout and stderr (--supervisor: the supervisor's own log; --console: the guest's console).",
        discussion: LifecycleHelp.exitCodes)

    @Argument(help: "The VM name.") var name: String
    @Flag(help: "The supervisor's log instead of QEMU's.") var supervisor = false
    @Flag(help: "What the guest printed on its serial console ([console]), kept across relaunches.") var console = false
    @Option(help: "Only the last N lines (0 to 1000000).", transform: NumericOption.integer(0...1_000_000))
    var tail: Int?
    @OptionGroup var state: StateDirectoryOption

    func run() async throws {
        let observation = try state.observe(name)
        if console { return ConsoleLog.print(observation.paths, tail: tail) }
        let path = supervisor ? observation.paths.supervisorLog : observation.paths.qemuLog
        let bytes = (try? FileDescriptorIO.readFile(path)).flatMap { $0 } ?? []
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for line in tail.map({ lines.suffix($0) }) ?? lines[...] { Output.line(String(line)) }
    }
}

/// Reads records appended to an event log since the last call.
struct EventLogFollower {
    let path: String
    private var offset: Int64 = 0

    init(path: String) { self.path = path }

    mutating func readNew() -> [JSON] {
        guard let bytes = try? FileDescriptorIO.readTail(path, from: offset, maximum: Int.max / 2) else { return [] }
        // Only whole lines; a line being written is read next time.
        guard let lastNewline = bytes.lastIndex(of: 0x0A) else { return [] }
        offset += Int64(lastNewline + 1)
        return EventLog.parse(bytes[...lastNewline])
    }
}

enum EventText {
    static func line(_ record: JSON) -> String {
        let at = record["at"]?.stringValue ?? "-"
        let source = record["source"]?.stringValue ?? "-"
        let name = record["event"]?.stringValue ?? "?"
        var data = record["data"].map { (try? $0.encoded()) ?? "" } ?? ""
        if data.count > 160 { data = String(data.prefix(157)) + "..." }  // --json has it whole
        return "\(at)  \(source.padding(8))  \(name)\(data.isEmpty ? "" : "  " + data)"
    }
}

/// Plain-text tables with aligned columns.
enum Table {
    static func print(_ rows: [[String]], header: Bool = true) {
        guard let width = rows.first?.count else { return }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() where i < width - 1 { widths[i] = max(widths[i], cell.count) } }
        for row in rows {
            let cells = row.enumerated().map { i, cell in i < width - 1 ? cell.padding(widths[i]) : cell }
            Output.line(cells.joined(separator: "  "))
        }
    }

    static func duration(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\((seconds % 3600) / 60)m"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// One line on the vmfwupdate flow of a VM's start for `status`.
enum FirmwareUpdateStatusText {
    static func line(_ flow: FirmwareUpdateRecord, supervisorAlive: Bool) -> String {
        let (updates, relaunches) = (flow.updates, flow.relaunches)
        var text = "\(updates) update\(updates == 1 ? "" : "s"), \(relaunches) relaunch\(relaunches == 1 ? "" : "es"), "
        switch flow.firmware {
        case .guestSupplied(let stored): text += "guest firmware " + image(stored)
        case .provider: text += "provider firmware"
        }
        if !supervisorAlive && !flow.phase.isSettled {
            text += " — update interrupted at \(flow.phase.rawValue)"
            if case .guestSupplied(let next)? = flow.nextFirmware { text += " (stored image \(image(next)))" }
        }
        return text
    }

    /// A stored image: its SHA-256 and, for confidential guests, the relaunch's launch digest.
    static func image(_ stored: StoredFirmware) -> String {
        var text = "sha256 \(stored.imageSHA256)"
        if let measurement = stored.launchMeasurement { text += ", launch digest \(measurement)" }
        return text
    }
}
