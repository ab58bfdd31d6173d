import Definition
import Foundation
import JSON
import ObjectModel

extension LaunchPlan {
    /// Object ids the plan gives the objects a definition implies.
    public enum IDs {
        public static let igvm = "igvm0"
        public static let pflashCode = "pflash0"
        public static let pflashVars = "pflash1"
    }

    /// The launch plan for `definition`: the full QEMU command line, typed.
    ///
    /// - Parameters:
    ///   - qmpSocket: where QEMU listens for QMP; nil for no monitor (the caller adds its own).
    ///   - searchPath: the `PATH` a bare `qemu.binary` name is looked up on.
    /// - Throws: `ConfigError` (`.invalid`) listing every property the object model cannot read
    ///   and a binary that cannot be found; what QEMU or the firmware would refuse beyond that
    ///   is `ConfigValidation`'s business, so a plan exists for any well-formed definition.
    public init(definition d: VMDefinition, qmpSocket: String?,
                searchPath: String? = ProcessInfo.processInfo.environment["PATH"]) throws(ConfigError) {
        var problems: [ConfigProblem] = []
        var binary = d.qemu.binary
        switch ExecutableLookup.find(d.qemu.binary, searchPath: searchPath) {
        case .success(let path): binary = path
        case .failure(let reason):
            problems.append(ConfigProblem(file: d.file, key: "qemu.binary", message: reason.description))
        }
        let (plan, found) = Self.build(d, binary: binary, qmpSocket: qmpSocket)
        problems += found
        guard let plan, problems.isEmpty else { throw ConfigError(kind: .invalid, problems: problems) }
        self = plan
    }

    /// The plan with `binary` taken as given, and the problems that kept properties from being
    /// read (the plan is nil only when an object could not be built at all).
    static func build(_ d: VMDefinition, binary: String, qmpSocket: String?) -> (LaunchPlan?, [ConfigProblem]) {
        var problems: [ConfigProblem] = []
        let resolve = { (p: String) in d.resolvePath(p) }
        var complete = true

        var machine = Machine(type: d.qemu.machine)
        var objects: [QOMObject] = []
        if let backend = d.memoryBackend {
            let (object, found) = ObjectProperties.object(
                qomType: backend.type, id: backend.id, properties: backend.properties,
                extra: [("size", JSON(d.qemu.memory))], table: "memory-backend", file: d.file, resolve: resolve)
            problems += found
            if let object { objects.append(object) } else { complete = false }
            machine.memoryBackend = backend.id
        }
        if let c = d.confidential {
            let (object, found) = ObjectProperties.object(
                qomType: c.type.rawValue, id: c.id, properties: c.properties,
                table: "confidential", file: d.file, resolve: resolve)
            problems += found
            if let object { objects.append(object) } else { complete = false }
            machine.confidentialGuestSupport = c.id
        }

        var blockdevs: [JSONObject] = []
        var bios: String?
        switch d.boot {
        case .none:
            break
        case .bios(let path):
            bios = path
        case .pflash(let code, let vars):
            blockdevs += pflashNodes(IDs.pflashCode, file: code, readOnly: true)
            machine.pflash0 = IDs.pflashCode
            if let vars {
                blockdevs += pflashNodes(IDs.pflashVars, file: vars, readOnly: false)
                machine.pflash1 = IDs.pflashVars
            }
        case .igvm(let file):
            objects.append(QOMObject(IgvmCfg(id: IDs.igvm, file: file)))
            machine.igvmCfg = IDs.igvm
        }
        let guestDevices = GuestDevicePlan(d)
        problems += guestDevices.problems
        guard complete else { return (nil, problems) }

        var plan = LaunchPlan(binary: binary, machine: machine, accel: d.qemu.accel, cpuModel: d.qemu.cpuModel,
                              memory: d.qemu.memory, cpus: d.qemu.cpus, objects: objects, qmpSocket: qmpSocket)
        plan.blockdevs = blockdevs + guestDevices.blockdevs
        plan.netdevs = guestDevices.netdevs
        plan.devices = guestDevices.devices
        plan.bios = bios
        plan.kernel = d.kernel
        if let serial = d.qemu.serial { plan.consoles.append(FileConsole(kind: .serial, path: serial)) }
        if let debugcon = d.qemu.debugcon { plan.consoles.append(FileConsole(kind: .debugcon, path: debugcon)) }
        return (plan, problems)
    }

    /// A pflash image as two `-blockdev` nodes, file and raw format, as libvirt does: the
    /// JSON form keeps the file name out of `-drive`'s option and protocol-prefix parsing.
    static func pflashNodes(_ name: String, file: String, readOnly: Bool) -> [JSONObject] {
        [
            ["driver": "file", "filename": .string(file), "node-name": .string("\(name)-file"), "read-only": .bool(readOnly)],
            ["driver": "raw", "file": .string("\(name)-file"), "node-name": .string(name), "read-only": .bool(readOnly)],
        ]
    }
}

extension VMDefinition {
    /// `path` made absolute against the config file's folder (as the loader does for paths).
    func resolvePath(_ path: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        return base.appendingPathComponent(path).standardizedFileURL.path
    }
}

/// Finding a program the way a shell does: a name without `/` on `PATH`, a path as it is.
public enum ExecutableLookup {
    public struct NotFound: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func find(_ program: String, searchPath: String?) -> Result<String, NotFound> {
        let fm = FileManager.default
        if program.contains("/") {
            return fm.isExecutableFile(atPath: program)
                ? .success(program)
                : .failure(NotFound(description: "\(JSONQuoted(program)) is not an executable file"))
        }
        let dirs = (searchPath ?? "").split(separator: ":", omittingEmptySubsequences: false)
            .map { $0.isEmpty ? "." : String($0) }
        for dir in dirs {
            let candidate = dir.hasSuffix("/") ? dir + program : dir + "/" + program
            if fm.isExecutableFile(atPath: candidate) { return .success(candidate) }
        }
        return .failure(NotFound(description: "\(JSONQuoted(program)) not found on PATH (\(searchPath ?? "unset")): install QEMU or give an absolute path"))
    }
}
