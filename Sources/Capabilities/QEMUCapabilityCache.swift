import FileAccess
import Foundation
import JSON
import QMP

/// Probe results cached per binary as JSON files in a state directory.
///
/// One file per binary path (`qemu-caps-<hash of the path>.json`). A cached result is used
/// only while the binary's path, size and modification time are what they were at probe
/// time; otherwise the binary is probed again and the file rewritten whole (`AtomicFile`), so a
/// crash leaves the old or the new file, never a torn one. One process probes a binary at a
/// time (`ProbeLock`, on `qemu-caps-<hash>.lock` beside the entry).
public struct QEMUCapabilityCache: Sendable {
    /// Where the files live (created 0700 when missing).
    public let directory: String
    public var probe: QEMUProbe

    /// Bumped when the file layout changes: older files are then ignored.
    static let formatVersion = 3

    public init(directory: String, probe: QEMUProbe = QEMUProbe()) {
        self.directory = directory
        self.probe = probe
        lockWait = probe.timeout + .seconds(10)
    }

    /// Where it came from.
    public enum Source: String, Sendable { case cache, probe }

    /// How long a lookup waits for another process's probe of the same binary (its lock) before
    /// it gives up: longer than that probe may take.
    public var lockWait: Duration

    /// The capabilities of `binary`, from the cache when still valid, else probed and stored.
    /// Concurrent lookups of one binary (parallel `start`s) probe it once: the first takes the
    /// entry's lock and probes, the others wait for the lock and read what it stored.
    /// `includingSchema: false` leaves the QAPI schema unread (`schema` nil): it is nine tenths
    /// of the entry, and `start`'s checks do not ask it (reading it was a third of a warm
    /// `start`'s CPU time, see bench/README.md).
    public func capabilities(of binary: String, includingSchema: Bool = true) async throws -> (QEMUCapabilities, Source) {
        let identity = try QEMUBinaryIdentity(ofBinaryAt: binary)
        let file = self.file(for: identity.path)
        if let cached = cached(file, identity, includingSchema: includingSchema) { return (cached, .cache) }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = try await ProbeLock.acquire(lockFile(for: file), timeout: lockWait)
        defer { lock.release() }
        // Whoever held the lock before us may have stored the answer meanwhile.
        if let cached = cached(file, identity, includingSchema: includingSchema) { return (cached, .cache) }
        let fresh = try await probe.probe(binary: identity.path)
        // The schema first: the entry counts once its main file names this binary.
        if let schema = fresh.schema {
            try AtomicFile.write(try Self.schemaJSON(schema, of: identity).encodedBytes(), to: schemaFile(for: file))
        }
        try AtomicFile.write(try fresh.cacheJSON.encodedBytes(pretty: true), to: file)
        return (fresh, .probe)
    }

    /// The entry in `file`, if it is one for `identity` (the binary as it is now).
    private func cached(_ file: String, _ identity: QEMUBinaryIdentity, includingSchema: Bool) -> QEMUCapabilities? {
        guard let json = Self.read(file), var cached = QEMUCapabilities(cacheJSON: json), cached.binary == identity else { return nil }
        if includingSchema {
            guard let json = Self.read(schemaFile(for: file)), json["format"]?.intValue == Self.formatVersion,
                QEMUBinaryIdentity(cacheJSON: json["binary"]) == identity, let entries = json["schema"]?.arrayValue
            else { return nil }
            cached.schema = QMPSchema(entries: entries)
        }
        return cached
    }

    private static func read(_ path: String) -> JSON? {
        guard let bytes = try? FileDescriptorIO.readFile(path) else { return nil }
        return try? JSON.decode(bytes: bytes)
    }

    /// The schema file's content (compact: nobody reads it by eye; `caps` counts its entities).
    static func schemaJSON(_ schema: QMPSchema, of binary: QEMUBinaryIdentity) -> JSON {
        ["format": JSON(formatVersion), "binary": binary.cacheJSON, "schema": schema.json]
    }

    /// The schema file of the entry in `file` (`qemu-caps-HASH.schema.json`).
    public func schemaFile(for file: String) -> String {
        String(file.dropLast(".json".count)) + ".schema.json"
    }

    /// The lock file of the entry in `file` (`qemu-caps-HASH.lock`).
    public func lockFile(for file: String) -> String {
        String(file.dropLast(".json".count)) + ".lock"
    }

    /// The cache file for a binary path.
    public func file(for binaryPath: String) -> String {
        // FNV-1a: stable across runs (Swift's Hasher is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in binaryPath.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return directory + "/qemu-caps-" + String(repeating: "0", count: 16 - hex.count) + hex + ".json"
    }
}

// MARK: - JSON form of the cache file

extension QEMUCapabilities {
    /// The cache file's content: everything but the schema, which has a file of its own.
    public var cacheJSON: JSON {
        func properties(_ map: [String: [QOMPropertyInfo]]) -> JSON {
            .object(JSONObject(map.keys.sorted().map { type in
                (type, .array(map[type]!.map(\.json)))
            }))
        }
        return [
            "format": JSON(QEMUCapabilityCache.formatVersion),
            "binary": binary.cacheJSON,
            "version": [
                "major": JSON(version.major), "minor": JSON(version.minor), "micro": JSON(version.micro),
                "package": .string(version.package),
            ],
            "types": .array(types.sorted().map(JSON.string)),
            "creatable-types": .array(creatableTypes.sorted().map(JSON.string)),
            "object-properties": properties(objectProperties),
            "device-properties": properties(deviceProperties),
            "machine-properties": properties(machineProperties),
        ]
    }

    /// Reads a cache file's content (without the schema); nil when it is not one (or of another
    /// format version).
    public init?(cacheJSON json: JSON) {
        guard json["format"]?.intValue == QEMUCapabilityCache.formatVersion,
            let binary = QEMUBinaryIdentity(cacheJSON: json["binary"]),
            let v = json["version"], let major = v["major"]?.intValue, let minor = v["minor"]?.intValue,
            let micro = v["micro"]?.intValue,
            let types = json["types"]?.arrayValue?.compactMap(\.stringValue),
            let creatable = json["creatable-types"]?.arrayValue?.compactMap(\.stringValue)
        else { return nil }
        func properties(_ key: String) -> [String: [QOMPropertyInfo]] {
            var map: [String: [QOMPropertyInfo]] = [:]
            for (type, list) in json[key]?.objectValue ?? [:] {
                map[type] = (list.arrayValue ?? []).compactMap(QOMPropertyInfo.init)
            }
            return map
        }
        self.init(
            binary: binary,
            version: QEMUVersion(major: major, minor: minor, micro: micro, package: v["package"]?.stringValue ?? ""),
            types: Set(types), creatableTypes: Set(creatable), objectProperties: properties("object-properties"),
            deviceProperties: properties("device-properties"), machineProperties: properties("machine-properties"),
            schema: nil)
    }
}

extension QEMUBinaryIdentity {
    /// The identity as the cache files record it.
    var cacheJSON: JSON {
        ["path": .string(path), "size": JSON(size), "mtime-ns": JSON(modificationTimeNanoseconds)]
    }

    init?(cacheJSON json: JSON?) {
        guard let path = json?["path"]?.stringValue, let size = json?["size"]?.int64Value,
            let mtime = json?["mtime-ns"]?.int64Value
        else { return nil }
        self.init(path: path, size: size, modificationTimeNanoseconds: mtime)
    }
}
