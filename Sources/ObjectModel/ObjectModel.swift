// The ObjectModel module: QEMU's QOM objects, the machine and devices of a confidential VM as
// typed Swift values, validated the way QEMU 10.2.2, KVM and the SEV-SNP firmware would, and
// rendered to / parsed from QMP and the command line.
//
// Entry points
// - Types: `SevSnpGuest`, `SevGuest`, `IgvmCfg`, `NoCC`, `MemoryBackendRam`, `MemoryBackendMemfd`,
//   `MemoryBackendFile` (all `QOMObjectType`), wrapped by `QOMObject` so a list can be handled
//   together; `Machine`; `Device` (`VmfwupdateDevice`). Value types: `Base64Blob`,
//   `SNPPolicy` and `SEVPolicy` (from Platform, re-exported), `OnOffAuto`, `HostMemPolicy`.
// - Validation: `object.validate()` (one object alone), `ObjectGraph(...).validate()` (machine +
//   objects + devices + `FirmwareFacts`: adds the cross-object rules), `ObjectSpec.validate(spec)`
//   (one `-object` string in either form: parse + validate in one call). All return `[Problem]`
//   (`level` .qemu / .launch / .warning, `object`, `property`, `message`; `description` is the
//   one-line `sev0.id-block: decodes to 95 bytes, must be 96`; `jsonValue` is the CLI's
//   `{"level","object","property","message"}`). `problems.isValid` = no errors (warnings allowed).
// - Rendering: `object.objectAddArguments()` (QMP `object-add` arguments, typed JSON),
//   `object.commandLineArgument(form: .json | .keyValue)` (the value after `-object`; JSON is
//   the default because it is immune to comma injection), `machine.commandLineArgument()`
//   (key=value: QEMU's -machine has no JSON form), `device.commandLineArgument(form:)`.
// - Parsing: `ObjectSpec.parse(_:)` / `QOMObject(commandLine:)` for an `-object` value in either
//   form, `QOMObject(objectAddArguments:)` for QMP arguments, `Machine(commandLine:)`,
//   `Device(commandLine:)`. Parsing follows QEMU's rules: `,,` is a literal comma, the first bare
//   word is the type, bools are on/off/yes/no/true/false, numbers as `qemu_strtou64`.
//   Errors are `ObjectSpecError` carrying every `.qemu` problem found. `QOMObject.read(_:)` takes
//   (name, `PropertyInput`) pairs — `.json` values (QMP, TOML converted to JSON) or `.text`
//   (key=value) — and returns the object plus every problem instead of throwing.
// - QEMU's base64 verdict, bit for bit: `QEMUBase64.decode` (util/base64.c + GLib).
import JSON
// The policy types of `SevSnpGuest`/`SevGuest` are Platform's; re-exported so users of the
// object model need not import Platform too.
@_exported import Platform

/// A QOM object type that igvm-mgr models (`-object TYPE,…` / `object-add`).
public protocol QOMObjectType: Sendable, Hashable {
    /// QEMU's type name, e.g. `sev-snp-guest`.
    static var qomType: String { get }
    /// The object's id (`-object …,id=ID`), which other objects and the machine refer to.
    var id: String { get set }
    /// The properties that are set, as typed JSON (integers as integers, bools as bools), in a
    /// stable order; `qom-type` and `id` are not included.
    var properties: JSONObject { get }
    /// Reads this type's properties from `reader`; problems (wrong types, out of range,
    /// unknown properties) are recorded in the reader and the property is left unset.
    init(id: String, reading reader: inout PropertyReader)
    /// The problems of this object on its own (no cross-object rules).
    func validate(facts: FirmwareFacts) -> [Problem]
    /// Properties rendered as hex in the key=value form (e.g. `policy`): QEMU parses numbers
    /// with base 0, so `0x30000` is read back exactly.
    static var hexProperties: Set<String> { get }
    /// Properties QEMU has for this type that igvm-mgr does not model (reported as such, not as
    /// unknown).
    static var unmodelledProperties: Set<String> { get }
}

extension QOMObjectType {
    public static var hexProperties: Set<String> { [] }
    public static var unmodelledProperties: Set<String> { [] }
    public func validate() -> [Problem] { validate(facts: FirmwareFacts()) }
}

/// Any object igvm-mgr models, so a list of them can be validated and rendered together.
public enum QOMObject: Sendable, Hashable {
    case sevSnpGuest(SevSnpGuest)
    case sevGuest(SevGuest)
    case igvmCfg(IgvmCfg)
    case nocc(NoCC)
    case memoryBackendRam(MemoryBackendRam)
    case memoryBackendMemfd(MemoryBackendMemfd)
    case memoryBackendFile(MemoryBackendFile)

    /// Every modelled type, by QEMU type name.
    public static let types: [any QOMObjectType.Type] = [
        SevSnpGuest.self, SevGuest.self, IgvmCfg.self, NoCC.self,
        MemoryBackendRam.self, MemoryBackendMemfd.self, MemoryBackendFile.self,
    ]

    /// Wraps a typed object.
    public init(_ object: any QOMObjectType) {
        switch object {
        case let o as SevSnpGuest: self = .sevSnpGuest(o)
        case let o as SevGuest: self = .sevGuest(o)
        case let o as IgvmCfg: self = .igvmCfg(o)
        case let o as NoCC: self = .nocc(o)
        case let o as MemoryBackendRam: self = .memoryBackendRam(o)
        case let o as MemoryBackendMemfd: self = .memoryBackendMemfd(o)
        case let o as MemoryBackendFile: self = .memoryBackendFile(o)
        default: preconditionFailure("QOMObject does not wrap \(type(of: object))")
        }
    }

    /// The wrapped value.
    public var object: any QOMObjectType {
        switch self {
        case .sevSnpGuest(let o): return o
        case .sevGuest(let o): return o
        case .igvmCfg(let o): return o
        case .nocc(let o): return o
        case .memoryBackendRam(let o): return o
        case .memoryBackendMemfd(let o): return o
        case .memoryBackendFile(let o): return o
        }
    }

    public var qomType: String { type(of: object).qomType }
    public var id: String { object.id }
    public var properties: JSONObject { object.properties }

    /// True for `sev-guest`, `sev-snp-guest` and `nocc`: what `confidential-guest-support` may name.
    public var isConfidentialGuestSupport: Bool {
        switch self {
        case .sevGuest, .sevSnpGuest, .nocc: return true
        default: return false
        }
    }

    /// True for the `memory-backend-*` types.
    public var isMemoryBackend: Bool {
        switch self {
        case .memoryBackendRam, .memoryBackendMemfd, .memoryBackendFile: return true
        default: return false
        }
    }

    public func validate(facts: FirmwareFacts = FirmwareFacts()) -> [Problem] {
        var problems = IDRules.check(id: id, as: id)
        problems += object.validate(facts: facts)
        return problems
    }
}

/// What the rest of the VM definition says about firmware and kernel: validation needs it for
/// the IGVM rules and the kernel-hashes warning. `nil` means "not known" and silences the rules
/// that need it.
public struct FirmwareFacts: Sendable, Hashable {
    /// The `-bios` file, if any.
    public var bios: String?
    /// How many pflash drives (`-drive if=pflash` or `-machine pflash0/1`) the VM has.
    public var pflashDrives: Int
    /// Whether a kernel is booted directly (`-kernel`); nil when unknown.
    public var directKernel: Bool?

    public init(bios: String? = nil, pflashDrives: Int = 0, directKernel: Bool? = nil) {
        self.bios = bios
        self.pflashDrives = pflashDrives
        self.directKernel = directKernel
    }
}
