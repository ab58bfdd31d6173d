/// One VM as its TOML file under `configs/` describes it (see docs/config.md).
///
/// Paths are already absolute (resolved against the config file's folder); values are checked
/// for type and form. Whether QEMU or the SEV firmware would accept the combination is the
/// business of validation and the launch plan, not of this type.
public struct VMDefinition: Sendable {
    /// The config file as the user named it: every problem message starts with it.
    public var file: String
    /// The VM's name (`name`, default: the file name without `.toml`).
    public var name: String
    public var qemu: QEMUSettings
    /// `[confidential]`; nil for an ordinary guest.
    public var confidential: ConfidentialSettings?
    /// `[firmware]` or `[igvm]`; `.none` leaves QEMU's default firmware.
    public var boot: BootSource
    /// `[kernel]`: direct kernel boot (what `kernel-hashes` measures).
    public var kernel: KernelBoot?
    /// `[memory-backend]`: the guest RAM as an explicit backend object.
    public var memoryBackend: MemoryBackendSettings?
    /// `[vmfwupdate]`: whether the guest may bring its own firmware.
    public var vmfwupdate: VMFWUpdateSettings
    /// `[[disk]]`, in file order.
    public var disks: [DiskSettings] = []
    /// `[[nic]]`, in file order.
    public var nics: [NICSettings] = []
    /// `[vsock]`.
    public var vsock: VsockSettings?
    /// `[console]`.
    public var console: ConsoleSettings?
    /// The TOML text this definition was parsed from (nil when built in code): what `start`
    /// hands the supervisor, so that it sees the definition that was validated.
    public var sourceText: String?

    public init(
        file: String, name: String, qemu: QEMUSettings, confidential: ConfidentialSettings? = nil,
        boot: BootSource = .none, kernel: KernelBoot? = nil, memoryBackend: MemoryBackendSettings? = nil,
        vmfwupdate: VMFWUpdateSettings = VMFWUpdateSettings()
    ) {
        self.file = file
        self.name = name
        self.qemu = qemu
        self.confidential = confidential
        self.boot = boot
        self.kernel = kernel
        self.memoryBackend = memoryBackend
        self.vmfwupdate = vmfwupdate
    }
}

/// `[qemu]`: the emulator and the machine's basic shape.
public struct QEMUSettings: Sendable, Equatable {
    /// `binary`: absolute path, or a name looked up on `PATH` at plan time.
    public var binary: String = "qemu-system-x86_64"
    /// `machine`: the machine type (`-machine TYPE`).
    public var machine: String = "q35"
    /// `accel`: `kvm` (confidential guests need it) or `tcg` (runs anywhere).
    public var accel: String = "kvm"
    /// `memory`: guest RAM in bytes (written `"4G"`, `"512M"`).
    public var memory: UInt64 = 1 << 30
    /// `cpus`: number of vCPUs (`-smp`).
    public var cpus: Int = 1
    /// `cpu-model`: `-cpu MODEL`; nil leaves QEMU's default.
    public var cpuModel: String?
    /// `debugcon`: file that receives the ISA debug console (port 0x402, OVMF's debug output).
    public var debugcon: String?
    /// `serial`: file that receives the first serial port.
    public var serial: String?
    /// `version`: the QEMU version the definition targets (e.g. `"10.2.2"`), for checks that
    /// depend on it (IGVM support) when the binary is not probed.
    public var version: String?

    public init() {}
}

/// The confidential-guest-support object (`[confidential]`).
public struct ConfidentialSettings: Sendable {
    /// `type`: the QOM type.
    public var type: ConfidentialType
    /// `id`: the object id (default `sev0`, or `nocc0` for `nocc`).
    public var id: String
    /// Every other key of the table: the object's own properties, in QEMU's names, as written.
    public var properties: [(key: String, value: TOMLNode)]

    public init(type: ConfidentialType, id: String, properties: [(key: String, value: TOMLNode)]) {
        self.type = type
        self.id = id
        self.properties = properties
    }
}

/// The confidential-guest-support types a definition may name.
public enum ConfidentialType: String, Sendable, CaseIterable {
    case sevGuest = "sev-guest"
    case sevSNPGuest = "sev-snp-guest"
    case nocc = "nocc"

    /// The object id used when the table gives none.
    public var defaultID: String { self == .nocc ? "nocc0" : "sev0" }
}

/// Where the guest's first instructions come from.
public enum BootSource: Sendable, Equatable {
    /// QEMU's default firmware (SeaBIOS on q35).
    case none
    /// `[firmware] bios = PATH`: `-bios PATH` (SEV-SNP measures it as the OVMF image).
    case bios(String)
    /// `[firmware] pflash0 = CODE, pflash1 = VARS`: read-only code and optional writable vars.
    case pflash(code: String, vars: String?)
    /// `[igvm] file = PATH`: an `igvm-cfg` object referenced by the machine.
    case igvm(file: String)
}

/// `[kernel]`: direct kernel boot.
public struct KernelBoot: Sendable, Hashable {
    /// `kernel`: `-kernel PATH`.
    public var kernel: String
    /// `initrd`: `-initrd PATH`.
    public var initrd: String?
    /// `append`: `-append CMDLINE`.
    public var append: String?

    public init(kernel: String, initrd: String? = nil, append: String? = nil) {
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
    }
}

/// `[memory-backend]`: guest RAM as an explicit backend (`-machine memory-backend=ID`).
public struct MemoryBackendSettings: Sendable {
    /// `type`: `memory-backend-ram`, `memory-backend-memfd` or `memory-backend-file`.
    public var type: String
    /// `id`: object id (default `ram0`).
    public var id: String
    /// Every other key: the backend's own properties (`share`, `prealloc`, `mem-path`, …).
    /// `size` is not among them: it is always `qemu.memory`.
    public var properties: [(key: String, value: TOMLNode)]

    public init(type: String, id: String, properties: [(key: String, value: TOMLNode)]) {
        self.type = type
        self.id = id
        self.properties = properties
    }
}

/// `[vmfwupdate]`: the guest-brings-its-own-firmware flow (docs/vmfwupdate.md).
public struct VMFWUpdateSettings: Sendable, Equatable {
    /// `enabled`: whether a guest update request is honoured (default false).
    public var enabled: Bool = false
    /// `mailbox`: guest-physical address of the request mailbox, for QEMU binaries without a
    /// `vmfwupdate` device (hex string).
    public var mailbox: UInt64?

    public init(enabled: Bool = false, mailbox: UInt64? = nil) {
        self.enabled = enabled
        self.mailbox = mailbox
    }
}
