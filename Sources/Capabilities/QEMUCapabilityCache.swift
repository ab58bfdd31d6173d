import Foundation
import JSON
import QMP

/// Probe results cached per binary as JSON files in a state directory.
///
/// One file per binary path (`qemu-caps-<hash of the path>.json`). A cached result is used
/// only while the binary's path, size and modification time are what they were at probe
/// time; otherwise the binary is probed again and the file rewritten whole (temporary file,
/// fsync, rename), so a crash leaves the old or the new file, never a torn one.
public struct QEMUCapabilityCache: Sendable {
    /// Where the files live (created 0700 when missing).
    public let directory: String
    public var probe: QEMUProbe

    /// Bumped when the file layout changes: older files are then ignored.
    static let formatVersion = 2

    public init(directory: String, probe: QEMUProbe = QEMUProbe()) {
        self.directory = directory
        self.probe = probe
    }

    /// Where it came from.
    public enum Source: String, Sendable { case cache, probe }

    /// The capabilities of `binary`, from the cache when still valid, else probed and stored.
    public func capabilities(of binary: String) async throws -> (QEMUCapabilities, Source) {
        let identity = try QEMUBinaryIdentity(ofBinaryAt: binary)
        let file = self.file(for: identity.path)
        if let data = FileManager.default.contents(atPath: file),
            let json = try? JSON.decode(bytes: Array(data)),
            let cached = QEMUCapabilities(cacheJSON: json), cached.binary == identity
        {
            return (cached, .cache)
        }
        let fresh = try await probe.probe(binary: identity.path)
        try write(fresh.cacheJSON, to: file)
        return (fresh, .probe)
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

    private func write(_ json: JSON, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let bytes = Array(try json.encoded(pretty: true).utf8)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CacheWriteError(path: temporary, errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                let e = errno
                close(fd)
                unlink(temporary)
                throw CacheWriteError(path: temporary, errno: e)
            }
            offset += n
        }
        guard fsync(fd) == 0, close(fd) == 0, rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw CacheWriteError(path: path, errno: e)
        }
    }
}

struct CacheWriteError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}

// MARK: - JSON form of the cache file

extension QEMUCapabilities {
    /// The cache file's content.
    public var cacheJSON: JSON {
        func properties(_ map: [String: [QOMPropertyInfo]]) -> JSON {
            .object(JSONObject(map.keys.sorted().map { type in
                (type, .array(map[type]!.map(\.json)))
            }))
        }
        return [
            "format": JSON(QEMUCapabilityCache.formatVersion),
            "binary": [
                "path": .string(binary.path), "size": JSON(binary.size),
                "mtime-ns": JSON(binary.modificationTimeNanoseconds),
            ],
            "version": [
                "major": JSON(version.major), "minor": JSON(version.minor), "micro": JSON(version.micro),
                "package": .string(version.package),
            ],
            "types": .array(types.sorted().map(JSON.string)),
            "creatable-types": .array(creatableTypes.sorted().map(JSON.string)),
            "object-properties": properties(objectProperties),
            "device-properties": properties(deviceProperties),
            "machine-properties": properties(machineProperties),
            "schema": schema.json,
        ]
    }

    /// Reads a cache file's content; nil when it is not one (or of another format version).
    public init?(cacheJSON json: JSON) {
        guard json["format"]?.intValue == QEMUCapabilityCache.formatVersion,
            let path = json["binary"]?["path"]?.stringValue, let size = json["binary"]?["size"]?.int64Value,
            let mtime = json["binary"]?["mtime-ns"]?.int64Value,
            let v = json["version"], let major = v["major"]?.intValue, let minor = v["minor"]?.intValue,
            let micro = v["micro"]?.intValue,
            let types = json["types"]?.arrayValue?.compactMap(\.stringValue),
            let creatable = json["creatable-types"]?.arrayValue?.compactMap(\.stringValue),
            let schema = json["schema"]?.arrayValue
        else { return nil }
        func properties(_ key: String) -> [String: [QOMPropertyInfo]] {
            var map: [String: [QOMPropertyInfo]] = [:]
            for (type, list) in json[key]?.objectValue ?? [:] {
                map[type] = (list.arrayValue ?? []).compactMap(QOMPropertyInfo.init)
            }
            return map
        }
        self.init(
            binary: QEMUBinaryIdentity(path: path, size: size, modificationTimeNanoseconds: mtime),
            version: QEMUVersion(major: major, minor: minor, micro: micro, package: v["package"]?.stringValue ?? ""),
            types: Set(types), creatableTypes: Set(creatable), objectProperties: properties("object-properties"),
            deviceProperties: properties("device-properties"), machineProperties: properties("machine-properties"),
            schema: QMPSchema(entries: schema))
    }
}
