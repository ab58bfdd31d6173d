import Definition
import JSON
import ObjectModel

/// Everything QEMU is started with, as typed pieces; `argv` renders them.
///
/// Later stages change the pieces rather than the rendered argv: the lifecycle code adds
/// runtime options (`addOption("-action", "reboot=shutdown,shutdown=pause")`), the vmfwupdate
/// flow swaps `firmware` for the guest's image. Every value that lands inside a QEMU option
/// string is either JSON (`-object`, `-blockdev`) or has its commas doubled (`,` → `,,`); the
/// options that take a plain file name (`-bios`, `-kernel`, `-initrd`) and `-append` get the
/// value verbatim because QEMU does not parse them as options at all.
public struct LaunchPlan: Sendable, Hashable {
    /// The QEMU executable (absolute when it was found on `PATH`).
    public var binary: String
    /// `-machine`: type and references to the objects below.
    public var machine: Machine
    /// `-accel NAME`.
    public var accel: String
    /// `-cpu MODEL`, or QEMU's default when nil.
    public var cpuModel: String?
    /// `-m`: guest RAM in bytes.
    public var memory: UInt64
    /// `-smp N`.
    public var cpus: Int
    /// `-object` for each, in order (memory backend, confidential object, igvm-cfg).
    public var objects: [QOMObject]
    /// How `-object` values are spelt: JSON (default, immune to comma injection) or key=value.
    public var objectForm: CommandLineForm = .json
    /// `-blockdev` nodes (JSON form), e.g. pflash images.
    public var blockdevs: [JSONObject] = []
    /// `-netdev` backends (JSON form), the NICs' host side.
    public var netdevs: [JSONObject] = []
    /// `-bios FILE`, nil for none.
    public var bios: String?
    /// `-kernel`, `-initrd`, `-append`.
    public var kernel: KernelBoot?
    /// `-chardev file,…` + the option that uses it (serial port, debug console).
    public var consoles: [FileConsole] = []
    /// `-device` for each (e.g. `vmfwupdate`).
    public var devices: [Device] = []
    /// The Unix socket QEMU listens on for QMP (`-chardev socket,…,server=on,wait=off -mon …`);
    /// nil leaves the monitor to the caller (the supervisor passes QEMU a listening descriptor).
    public var qmpSocket: String?
    /// `-S`: start with the vCPUs stopped; the manager continues over QMP.
    public var startPaused: Bool = true
    /// Options added by later stages, rendered after everything else, in order.
    public private(set) var extraOptions: [[String]] = []

    public init(binary: String, machine: Machine, accel: String, cpuModel: String? = nil, memory: UInt64,
                cpus: Int, objects: [QOMObject] = [], qmpSocket: String?) {
        self.binary = binary
        self.machine = machine
        self.accel = accel
        self.cpuModel = cpuModel
        self.memory = memory
        self.cpus = cpus
        self.objects = objects
        self.qmpSocket = qmpSocket
    }

    /// Adds `option` (e.g. `-action`) with its already-formed `value` (e.g.
    /// `reboot=shutdown,shutdown=pause`); the caller escapes anything it interpolates into the
    /// value with `KeyValueSyntax.escape`.
    public mutating func addOption(_ option: String, _ value: String? = nil) {
        extraOptions.append(value.map { [option, $0] } ?? [option])
    }

    /// The whole command line, program first.
    public var argv: [String] { [binary] + arguments }

    /// The arguments after the program name.
    public var arguments: [String] {
        var a: [String] = []
        a += ["-machine", machine.commandLineArgument()]
        a += ["-accel", KeyValueSyntax.escape(accel)]
        if let cpuModel { a += ["-cpu", cpuModel] }
        a += ["-m", Self.memoryArgument(memory)]
        a += ["-smp", String(cpus)]
        for object in objects { a += ["-object", object.commandLineArgument(form: objectForm)] }
        for node in blockdevs { a += ["-blockdev", (try? JSON.object(node).encoded()) ?? "{}"] }
        for netdev in netdevs { a += ["-netdev", (try? JSON.object(netdev).encoded()) ?? "{}"] }
        if let bios { a += ["-bios", bios] }
        if let kernel {
            a += ["-kernel", kernel.kernel]
            if let initrd = kernel.initrd { a += ["-initrd", initrd] }
            if let append = kernel.append { a += ["-append", append] }
        }
        a += ["-nodefaults", "-no-user-config", "-display", "none"]
        for console in consoles { a += console.arguments }
        for device in devices { a += ["-device", device.commandLineArgument(form: .json)] }
        if let qmpSocket {
            a += ["-chardev", KeyValueSyntax.render(implied: ("backend", "socket"), [
                ("id", Self.qmpChardevID), ("path", qmpSocket), ("server", "on"), ("wait", "off"),
            ])]
            a += ["-mon", "chardev=\(Self.qmpChardevID),mode=control"]
        }
        if startPaused { a.append("-S") }
        for option in extraOptions { a += option }
        return a
    }

    /// The chardev id of the QMP socket.
    public static let qmpChardevID = "qmp0"

    /// `-m` in the largest unit that is exact; QEMU reads a bare number as MiB, so bytes get `B`.
    static func memoryArgument(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where bytes % (1 << UInt64(shift)) == 0 {
            return "\(bytes >> UInt64(shift))\(unit)"
        }
        return "\(bytes)B"
    }
}

/// A guest console written to a file: `-chardev file,id=ID,path=PATH` and the option that
/// connects it.
public struct FileConsole: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The first serial port (`-serial chardev:ID`).
        case serial
        /// The ISA debug console at port 0x402, where OVMF writes its debug log.
        case debugcon
    }

    public var kind: Kind
    public var path: String

    public init(kind: Kind, path: String) {
        self.kind = kind
        self.path = path
    }

    public var chardevID: String { "\(kind.rawValue)0" }

    public var arguments: [String] {
        // append=on: a relaunch (vmfwupdate, confidential reboot) must not truncate earlier output.
        let chardev = KeyValueSyntax.render(implied: ("backend", "file"), [("id", chardevID), ("path", path), ("append", "on")])
        switch kind {
        case .serial:
            return ["-chardev", chardev, "-serial", "chardev:\(chardevID)"]
        case .debugcon:
            return ["-chardev", chardev, "-device", "isa-debugcon,iobase=0x402,chardev=\(chardevID)"]
        }
    }
}
