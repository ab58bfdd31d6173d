import JSON

// Typed wrappers for the commands igvm-mgr uses. Everything else: `execute(name, arguments)`.

/// `query-status`.
public struct QMPRunStatus: Sendable, Hashable {
    /// The run state ("prelaunch", "running", "paused", "shutdown", "guest-panicked", …).
    public var status: String
    public var running: Bool

    public init(status: String, running: Bool) {
        self.status = status
        self.running = running
    }
}

/// One entry of `qom-list-types`.
public struct QOMTypeInfo: Sendable, Hashable {
    public var name: String
    public var parent: String?
    public var abstract: Bool

    public init(name: String, parent: String? = nil, abstract: Bool = false) {
        self.name = name
        self.parent = parent
        self.abstract = abstract
    }
}

/// One entry of `qom-list-properties`, `device-list-properties` or `qom-list`.
public struct QOMPropertyInfo: Sendable, Hashable {
    public var name: String
    /// QOM's type string ("uint64", "bool", "str", "link<…>", "child<…>").
    public var type: String
    public var description: String?
    public var defaultValue: JSON?

    public init(name: String, type: String, description: String? = nil, defaultValue: JSON? = nil) {
        self.name = name
        self.type = type
        self.description = description
        self.defaultValue = defaultValue
    }

    /// Parses one entry of a QMP property list (`name`, `type`, `description`, `default-value`).
    public init?(_ json: JSON) {
        guard let name = json["name"]?.stringValue, let type = json["type"]?.stringValue else { return nil }
        self.init(
            name: name, type: type, description: json["description"]?.stringValue,
            defaultValue: json["default-value"])
    }

    /// The entry in QMP's own shape.
    public var json: JSON {
        var o: JSONObject = ["name": .string(name), "type": .string(type)]
        if let description { o["description"] = .string(description) }
        if let defaultValue { o["default-value"] = defaultValue }
        return .object(o)
    }
}

extension QMPClient {
    /// `query-version`.
    public func queryVersion(timeout: Duration? = nil) async throws -> QEMUVersion {
        let r = try await execute("query-version", timeout: timeout)
        guard let version = QEMUVersion(versionInfo: r)
        else { throw QMPClientError.unexpectedReply(command: "query-version", reason: "no qemu.major/minor/micro") }
        return version
    }

    /// `query-status`.
    public func queryStatus(timeout: Duration? = nil) async throws -> QMPRunStatus {
        let r = try await execute("query-status", timeout: timeout)
        guard let status = r["status"]?.stringValue, let running = r["running"]?.boolValue else {
            throw QMPClientError.unexpectedReply(command: "query-status", reason: "no status/running")
        }
        return QMPRunStatus(status: status, running: running)
    }

    /// `query-qmp-schema`, decoded for path questions.
    public func queryQMPSchema(timeout: Duration? = nil) async throws -> QMPSchema {
        let r = try await execute("query-qmp-schema", timeout: timeout)
        guard let entries = r.arrayValue else {
            throw QMPClientError.unexpectedReply(command: "query-qmp-schema", reason: "not an array")
        }
        return QMPSchema(entries: entries)
    }

    /// `qom-list-types`, optionally only types implementing `implements` (e.g. "user-creatable").
    public func qomListTypes(implements: String? = nil, abstract: Bool? = nil, timeout: Duration? = nil) async throws -> [QOMTypeInfo] {
        var args = JSONObject()
        if let implements { args["implements"] = .string(implements) }
        if let abstract { args["abstract"] = .bool(abstract) }
        let r = try await execute("qom-list-types", args, timeout: timeout)
        return try list(r, "qom-list-types") { j in
            j["name"]?.stringValue.map {
                QOMTypeInfo(name: $0, parent: j["parent"]?.stringValue, abstract: j["abstract"]?.boolValue ?? false)
            }
        }
    }

    /// `qom-list-properties typename=…`: the properties an object of that type would have.
    public func qomListProperties(_ typeName: String, timeout: Duration? = nil) async throws -> [QOMPropertyInfo] {
        let r = try await execute("qom-list-properties", ["typename": .string(typeName)], timeout: timeout)
        return try list(r, "qom-list-properties", QOMPropertyInfo.init)
    }

    /// `device-list-properties typename=…`.
    public func deviceListProperties(_ typeName: String, timeout: Duration? = nil) async throws -> [QOMPropertyInfo] {
        let r = try await execute("device-list-properties", ["typename": .string(typeName)], timeout: timeout)
        return try list(r, "device-list-properties", QOMPropertyInfo.init)
    }

    /// `qom-list path=…`: the properties (and children) of an existing object.
    public func qomList(_ path: String, timeout: Duration? = nil) async throws -> [QOMPropertyInfo] {
        let r = try await execute("qom-list", ["path": .string(path)], timeout: timeout)
        return try list(r, "qom-list", QOMPropertyInfo.init)
    }

    /// `object-add` with the object's properties flattened beside `qom-type` and `id`.
    public func objectAdd(qomType: String, id: String, properties: JSONObject = [:], timeout: Duration? = nil) async throws {
        var args: JSONObject = ["qom-type": .string(qomType), "id": .string(id)]
        for (k, v) in properties { args[k] = v }
        _ = try await execute("object-add", args, timeout: timeout)
    }

    /// `object-del id=…`.
    public func objectDel(id: String, timeout: Duration? = nil) async throws {
        _ = try await execute("object-del", ["id": .string(id)], timeout: timeout)
    }

    /// `qom-get`; integers come back exactly (a uint64 above Int64.max as `.unsigned`).
    public func qomGet(_ path: String, property: String, timeout: Duration? = nil) async throws -> JSON {
        try await execute("qom-get", ["path": .string(path), "property": .string(property)], timeout: timeout)
    }

    /// `qom-set`; pass `JSON(UInt64)` for an unsigned value: it is sent as bare unsigned digits.
    public func qomSet(_ path: String, property: String, value: JSON, timeout: Duration? = nil) async throws {
        _ = try await execute("qom-set", ["path": .string(path), "property": .string(property), "value": value], timeout: timeout)
    }

    /// `cont`: resume a paused (or `-S`) guest.
    public func cont(timeout: Duration? = nil) async throws { _ = try await execute("cont", timeout: timeout) }

    /// `stop`: pause the guest.
    public func stop(timeout: Duration? = nil) async throws { _ = try await execute("stop", timeout: timeout) }

    /// `system_reset`.
    public func systemReset(timeout: Duration? = nil) async throws { _ = try await execute("system_reset", timeout: timeout) }

    /// `system_powerdown` (ACPI power button).
    public func systemPowerdown(timeout: Duration? = nil) async throws {
        _ = try await execute("system_powerdown", timeout: timeout)
    }

    /// `quit`. QEMU replies, then exits. The reply can be lost when QEMU exits before flushing
    /// it; since the peer going away is what `quit` asks for, that counts as success here.
    public func quit(timeout: Duration? = nil) async throws {
        do {
            _ = try await execute("quit", timeout: timeout)
        } catch QMPClientError.interrupted(_, let cause) where cause.peerWentAway {
        }
    }

    /// `pmemsave`: write `size` bytes of guest physical memory from `address` to `file` (a path
    /// QEMU opens).
    public func pmemsave(address: UInt64, size: UInt64, file: String, timeout: Duration? = nil) async throws {
        _ = try await execute("pmemsave", ["val": JSON(address), "size": JSON(size), "filename": .string(file)], timeout: timeout)
    }

    /// `query-sev`: the SEV guest's state (fails with a GenericError when SEV is not enabled).
    public func querySEV(timeout: Duration? = nil) async throws -> JSONObject {
        try object(try await execute("query-sev", timeout: timeout), "query-sev")
    }

    /// `query-sev-capabilities`: the host's SEV parameters (pdh, cert-chain, cbitpos, reduced-phys-bits).
    public func querySEVCapabilities(timeout: Duration? = nil) async throws -> JSONObject {
        try object(try await execute("query-sev-capabilities", timeout: timeout), "query-sev-capabilities")
    }

    /// `query-sev-launch-measure`: the launch measurement (base64) of a legacy SEV guest.
    public func querySEVLaunchMeasure(timeout: Duration? = nil) async throws -> String {
        let r = try await execute("query-sev-launch-measure", timeout: timeout)
        guard let data = r["data"]?.stringValue else {
            throw QMPClientError.unexpectedReply(command: "query-sev-launch-measure", reason: "no data")
        }
        return data
    }

    private func list<T>(_ reply: JSON, _ command: String, _ make: (JSON) -> T?) throws -> [T] {
        guard let items = reply.arrayValue else {
            throw QMPClientError.unexpectedReply(command: command, reason: "expected an array, got \(reply.kindDescription)")
        }
        return try items.map { item in
            guard let v = make(item) else {
                throw QMPClientError.unexpectedReply(command: command, reason: "malformed entry \(item)")
            }
            return v
        }
    }

    private func object(_ reply: JSON, _ command: String) throws -> JSONObject {
        guard let o = reply.objectValue else {
            throw QMPClientError.unexpectedReply(command: command, reason: "expected an object, got \(reply.kindDescription)")
        }
        return o
    }
}
