import FileAccess
import Foundation
import IGVM

extension VMDefinition {
    /// Reads and checks a VM definition file.
    ///
    /// - Parameter path: the file as the user named it; relative paths inside resolve against its folder.
    /// - Throws: `ConfigError` with `.unreadable` (missing file, not TOML) or `.invalid` (every
    ///   problem found, each naming the file and key).
    public static func load(path: String) throws(ConfigError) -> VMDefinition {
        let bytes: [UInt8]
        do {
            bytes = try InputFile.read(path, limit: InputFile.Limit.text)
        } catch {
            throw ConfigError(kind: .unreadable, problems: [ConfigProblem(file: path, key: "", message: error.message)])
        }
        return try parse(bytes: bytes, file: path)
    }

    /// Checks a VM definition given as the bytes of its file, without touching the file system:
    /// what `load(path:)` does once the file is read (and what the libFuzzer target feeds).
    ///
    /// - Parameter file: the file's path as the user named it: messages start with it, relative
    ///   paths inside resolve against its folder and its name is the default VM name.
    public static func parse(bytes: some Collection<UInt8>, file: String) throws(ConfigError) -> VMDefinition {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(kind: .unreadable, problems: [
                ConfigProblem(file: file, key: "", message: "not a TOML document: not valid UTF-8")
            ])
        }
        let url = URL(fileURLWithPath: file)
        let name = url.deletingPathExtension().lastPathComponent
        return try parse(text, file: file, baseDirectory: url.deletingLastPathComponent(), defaultName: name)
    }

    /// Checks a VM definition given as TOML text.
    ///
    /// - Parameters:
    ///   - file: how messages name the source.
    ///   - baseDirectory: the folder relative paths resolve against.
    ///   - defaultName: the VM name when the document has no `name`.
    public static func parse(
        _ text: String, file: String, baseDirectory: URL, defaultName: String
    ) throws(ConfigError) -> VMDefinition {
        let entries = try TOMLDocument.parse(text, file: file)
        let problems = ProblemList(file: file)
        let root = TableReader(entries: entries, path: "", problems: problems, baseDirectory: baseDirectory)
        var definition = DefinitionReader(root: root, file: file, defaultName: defaultName).read()
        definition.sourceText = text
        if !problems.problems.isEmpty {
            // What could be read goes with the error, so that the launch plan's checks of the
            // object properties can report their problems in the same run (`ConfigValidation.load`).
            throw ConfigError(kind: .invalid, problems: problems.problems, partial: definition)
        }
        return definition
    }
}

/// Reads each table of a definition in turn (the schema lives here and in docs/config.md).
struct DefinitionReader {
    let root: TableReader
    let file: String
    let defaultName: String

    static let topLevelKeys = ["name", "qemu", "confidential", "firmware", "igvm", "kernel", "memory-backend", "vmfwupdate",
                                "disk", "nic", "vsock", "console"]

    func read() -> VMDefinition {
        var name = defaultName
        if let n = root.string("name", expected: "a VM name (string)") {
            if VMName.isValid(n) { name = n } else { root.problem("name", VMName.expectation(got: n)) }
        } else if !root.has("name") && !VMName.isValid(defaultName) {
            root.problem("name", "missing, and the file name \(JSONQuoted(defaultName)) is not a valid VM name: \(VMName.rule)")
        }
        var definition = VMDefinition(
            file: file, name: name,
            qemu: root.table("qemu").map(readQEMU) ?? QEMUSettings(),
            confidential: root.table("confidential").flatMap(readConfidential),
            boot: readBoot(),
            kernel: root.table("kernel").flatMap(readKernel),
            memoryBackend: root.table("memory-backend").flatMap(readMemoryBackend),
            vmfwupdate: root.table("vmfwupdate").map(readVMFWUpdate) ?? VMFWUpdateSettings())
        readDevices(into: &definition)
        root.finish(allowed: Self.topLevelKeys)
        return definition
    }

    /// `help` or `?` as a machine, accelerator or CPU model makes QEMU print a list and exit 0
    /// without running anything (QEMU's `is_help_option()`, include/qemu/help_option.h).
    static func isListRequest(_ value: String) -> Bool { value == "help" || value == "?" }

    static func listRequestMessage(_ value: String, example: String) -> String {
        "\(JSONQuoted(value)) makes QEMU print a list and exit instead of running the VM; name one, like \"\(example)\""
    }

    func readQEMU(_ t: TableReader) -> QEMUSettings {
        var q = QEMUSettings()
        if let b = t.string("binary", expected: "a program name or path (string)") {
            if b.isEmpty { t.problem("binary", "expected a program name or path, got an empty string") }
            // A bare name is looked up on PATH at launch; anything with a slash is a path.
            else { q.binary = b.contains("/") ? t.resolve(b) : b }
        }
        if let m = t.string("machine", expected: "a machine type like \"q35\"") {
            if Self.isListRequest(m) { t.problem("machine", Self.listRequestMessage(m, example: "q35")) } else { q.machine = m }
        }
        if let a = t.string("accel", expected: "an accelerator name like \"kvm\" or \"tcg\"") {
            if Self.isListRequest(a) { t.problem("accel", Self.listRequestMessage(a, example: "kvm")) } else { q.accel = a }
        }
        if let node = t.value("memory") {
            if case .string(let s) = node, let bytes = ByteSize.parse(s), bytes > 0 {
                q.memory = bytes
            } else {
                t.problem("memory", "expected a size string like \"4G\" or \"512M\" (suffix K, M, G or T), got \(node.described)")
            }
        }
        if let c = t.integer("cpus", in: 1...4096) { q.cpus = Int(c) }
        if let model = t.string("cpu-model", expected: "a CPU model name like \"EPYC-v4\"") {
            // -cpu splits at the first comma and has no escape: a comma would add CPU features.
            if Self.isListRequest(model) {
                t.problem("cpu-model", Self.listRequestMessage(model, example: "EPYC-v4"))
            } else if CPUModelName.isValid(model) {
                q.cpuModel = model
            } else {
                t.problem("cpu-model", "expected a CPU model name (letters, digits, - _ .) like \"EPYC-v4\", got \(JSONQuoted(model))")
            }
        }
        q.debugcon = t.path("debugcon")
        q.serial = t.path("serial")
        if let v = t.string("version", expected: "a QEMU version like \"10.2.2\"") {
            if QEMUVersion(v) != nil { q.version = v }
            else { t.problem("version", "expected a QEMU version like \"10.2.2\", got \(JSONQuoted(v))") }
        }
        t.finish(allowed: ["binary", "machine", "accel", "memory", "cpus", "cpu-model", "debugcon", "serial", "version"])
        return q
    }

    func readConfidential(_ t: TableReader) -> ConfidentialSettings? {
        let typeNames = ConfidentialType.allCases.map(\.rawValue)
        let type: ConfidentialType?
        if let s = t.string("type", expected: "one of \(typeNames.joined(separator: ", "))") {
            type = ConfidentialType(rawValue: s)
            if type == nil { t.problem("type", "expected one of \(typeNames.joined(separator: ", ")), got \(JSONQuoted(s))") }
        } else {
            if !t.has("type") { t.problem("type", "missing: expected one of \(typeNames.joined(separator: ", "))") }
            type = nil
        }
        let id = readID(t, default: type?.defaultID ?? "sev0")
        rejectQOMType(t)
        // The object's own properties are checked against the object model by the plan.
        let properties = t.entries.filter { !["type", "id", "qom-type"].contains($0.key) }
        properties.forEach { t.claim($0.key) }
        guard let type else { return nil }
        return ConfidentialSettings(type: type, id: id, properties: properties)
    }

    func readMemoryBackend(_ t: TableReader) -> MemoryBackendSettings? {
        let types = ["memory-backend-ram", "memory-backend-memfd", "memory-backend-file"]
        var type: String?
        if let s = t.string("type", expected: "one of \(types.joined(separator: ", "))") {
            if types.contains(s) { type = s }
            else { t.problem("type", "expected one of \(types.joined(separator: ", ")), got \(JSONQuoted(s))") }
        } else if !t.has("type") {
            t.problem("type", "missing: expected one of \(types.joined(separator: ", "))")
        }
        let id = readID(t, default: "ram0")
        rejectQOMType(t)
        if t.has("size") {
            t.claim("size")
            t.problem("size", "not allowed here: the backend's size is always qemu.memory")
        }
        // The backend's own properties are checked against the object model by the plan.
        let properties = t.entries.filter { !["type", "id", "size", "qom-type"].contains($0.key) }
        properties.forEach { t.claim($0.key) }
        guard let type else { return nil }
        return MemoryBackendSettings(type: type, id: id, properties: properties)
    }

    /// `qom-type` would reach QEMU's JSON `-object` beside the one `type` sets and override it
    /// (a sev-guest where the host checks assume SNP): the table's `type` is the only way.
    func rejectQOMType(_ t: TableReader) {
        guard t.has("qom-type") else { return }
        t.claim("qom-type")
        t.problem("qom-type", "not allowed: the object's QOM type is this table's `type`")
    }

    func readID(_ t: TableReader, default defaultID: String) -> String {
        guard let id = t.string("id", expected: "an object id (string)") else { return defaultID }
        return id
    }

    func readBoot() -> BootSource {
        let firmware = root.table("firmware")
        let igvm = root.table("igvm")
        var boot = BootSource.none
        if let f = firmware {
            let bios = f.path("bios")
            let code = f.path("pflash0")
            let vars = f.path("pflash1")
            if let bios {
                if code != nil || vars != nil {
                    f.problem(code != nil ? "pflash0" : "pflash1", "not allowed together with firmware.bios: use either -bios or pflash")
                }
                boot = .bios(bios)
            } else if let code {
                boot = .pflash(code: code, vars: vars)
            } else if vars != nil {
                f.problem("pflash1", "needs firmware.pflash0 (the read-only firmware code)")
            } else if !f.has("bios") && !f.has("pflash0") {
                f.problem("bios", "missing: [firmware] needs bios, or pflash0 (and optionally pflash1)")
            }
            f.finish(allowed: ["bios", "pflash0", "pflash1"])
        }
        if let i = igvm {
            let file = i.path("file")
            if file == nil && !i.has("file") { i.problem("file", "missing: expected the IGVM file's path") }
            i.finish(allowed: ["file"])
            if firmware != nil {
                // QEMU 10.2.2 ignores -bios silently and rejects pflash when IGVM is used: one or the other.
                root.problem("igvm", "not allowed together with [firmware]: the IGVM file is the firmware (QEMU ignores -bios and rejects pflash with igvm-cfg)")
            } else if let file {
                boot = .igvm(file: file)
            }
        }
        return boot
    }

    func readKernel(_ t: TableReader) -> KernelBoot? {
        let kernel = t.path("kernel")
        if kernel == nil && !t.has("kernel") { t.problem("kernel", "missing: expected the kernel image's path") }
        let initrd = t.path("initrd")
        let append = t.string("append", expected: "a kernel command line (string)")
        t.finish(allowed: ["kernel", "initrd", "append"])
        return kernel.map { KernelBoot(kernel: $0, initrd: initrd, append: append) }
    }

    func readVMFWUpdate(_ t: TableReader) -> VMFWUpdateSettings {
        var v = VMFWUpdateSettings()
        if let e = t.bool("enabled") { v.enabled = e }
        v.mailbox = t.hex("mailbox", example: "0x7f000000")
        if let m = v.mailbox, m % 4096 != 0 {
            t.problem("mailbox", "expected a page-aligned guest-physical address (multiple of 0x1000), got \"0x\(String(m, radix: 16))\"")
        }
        t.finish(allowed: ["enabled", "mailbox"])
        return v
    }
}

/// VM names become folder and socket names: keep them to a safe alphabet.
public enum VMName {
    public static let rule = "1 to 64 characters from A-Z a-z 0-9 . _ -, not starting with . or -"

    /// Whether `name` is a usable VM name.
    public static func isValid(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first,
              first != UInt8(ascii: "."), first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    static func expectation(got: String) -> String { "expected a VM name (\(rule)), got \(JSONQuoted(got))" }
}

/// `-cpu` splits its argument at the first comma and has no escape, so a model name is kept
/// to the characters QEMU's model names use; a comma would otherwise add CPU features.
enum CPUModelName {
    static func isValid(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
        }
    }
}

/// Sizes as QEMU writes them: a decimal number with a K, M, G or T suffix (powers of 1024).
/// The suffix is required: QEMU reads a bare `-m 1024` as MiB but a bare `size=1024` as bytes,
/// and a config should not make the reader guess which.
enum ByteSize {
    static func parse(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        let shifts: [Character: UInt64] = ["K": 10, "M": 20, "G": 30, "T": 40, "k": 10, "m": 20, "g": 30, "t": 40]
        guard let shift = shifts[last] else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(digits) else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : bytes
    }
}
