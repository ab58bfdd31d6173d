import JSON
import QMP

/// What one QEMU binary can do, as probed over QMP (see `QEMUProbe`) and cached per binary
/// (see `QEMUCapabilityCache`). Validation and argv generation ask it before a launch, so that
/// an object or property the binary lacks is a clear error instead of a failure at start.
public struct QEMUCapabilities: Sendable, Hashable {
    /// The binary this describes, with the identity the cache is keyed on.
    public var binary: QEMUBinaryIdentity
    public var version: QEMUVersion
    /// Every QOM type name (`qom-list-types`).
    public var types: Set<String>
    /// Types that `-object` / `object-add` can create (`qom-list-types implements=user-creatable`).
    public var creatableTypes: Set<String>
    /// `qom-list-properties` of the probed object types that exist.
    public var objectProperties: [String: [QOMPropertyInfo]]
    /// `device-list-properties` of the probed device types that exist.
    public var deviceProperties: [String: [QOMPropertyInfo]]
    /// `qom-list-properties` of the probed machine types, by the alias asked for (e.g. "q35").
    public var machineProperties: [String: [QOMPropertyInfo]]
    /// `query-qmp-schema`, for path questions (`schema.pathExists(…)`); nil when read from the
    /// cache without it (`QEMUCapabilityCache.capabilities(of:includingSchema:)`).
    public var schema: QMPSchema?

    /// The binary's file name ("qemu-system-x86_64"), for messages.
    public var binaryName: String { binary.path.split(separator: "/").last.map(String.init) ?? binary.path }

    /// Whether `-object TYPE` / `object-add` can create `type`.
    public func canCreate(_ type: String) -> Bool { creatableTypes.contains(type) }

    /// Whether objects of `type` (object, device or machine alias) have `property`.
    public func has(property: String, of type: String) -> Bool {
        let lists = [objectProperties[type], deviceProperties[type], machineProperties[type]]
        return lists.contains { $0?.contains { $0.name == property } ?? false }
    }

    /// Throws a `MissingCapability` naming the binary, its version and what it would take,
    /// unless `-object type` is possible.
    public func requireCreatable(_ type: String) throws(MissingCapability) {
        guard canCreate(type) else {
            throw MissingCapability(
                binary: binaryName, version: version.description, missing: type,
                requirement: MissingCapability.knownRequirements[type])
        }
    }

    /// Throws a `MissingCapability` unless objects of `type` have `property`.
    public func require(property: String, of type: String) throws(MissingCapability) {
        try requireCreatableOrMachine(type)
        guard has(property: property, of: type) else {
            throw MissingCapability(
                binary: binaryName, version: version.description, missing: "property '\(property)' of \(type)",
                requirement: MissingCapability.knownRequirements["\(type).\(property)"])
        }
    }

    /// Everything this binary lacks to create `type` with `properties` (the form validation
    /// uses before a launch: one message per missing piece, empty when all is there).
    public func problems(creating type: String, properties: some Sequence<String>) -> [MissingCapability] {
        do {
            try requireCreatableOrMachine(type)
        } catch {
            return [error]
        }
        var missing: [MissingCapability] = []
        for property in properties {
            do { try require(property: property, of: type) } catch { missing.append(error) }
        }
        return missing
    }

    private func requireCreatableOrMachine(_ type: String) throws(MissingCapability) {
        if machineProperties[type] != nil || deviceProperties[type] != nil { return }
        try requireCreatable(type)
    }
}

/// A capability the binary lacks, worded for the operator:
/// "qemu-system-x86_64 10.0.2 has no igvm-cfg (QEMU 10.1 or newer, built with IGVM support)".
public struct MissingCapability: Error, Sendable, Hashable, CustomStringConvertible {
    public var binary: String
    public var version: String
    public var missing: String
    /// What provides it, when known.
    public var requirement: String?

    public var description: String {
        "\(binary) \(version) has no \(missing)" + (requirement.map { " (\($0))" } ?? "")
    }

    /// Where the confidential-computing pieces come from (QEMU's changelogs and `qapi/qom.json`
    /// "Since:" lines; docs/background.md, "The QEMU objects").
    static let knownRequirements: [String: String] = [
        "igvm-cfg": "QEMU 10.1 or newer, built with IGVM support",
        "q35.igvm-cfg": "QEMU 10.1 or newer, built with IGVM support",
        "sev-snp-guest": "QEMU 9.1 or newer for x86_64",
        "sev-guest": "QEMU 2.12 or newer for x86_64",
        "nocc": "a QEMU build that carries the nocc object; upstream QEMU has none",
        "vmfwupdate": "a QEMU build with the vmfwupdate device (proposed upstream, not merged)",
    ]
}

/// The identity of a binary on disk. A cached probe is valid only while all three match,
/// the same invalidation set libvirt uses for its capability cache (path, size, mtime).
public struct QEMUBinaryIdentity: Sendable, Hashable {
    public var path: String
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var modificationTimeNanoseconds: Int64
}
