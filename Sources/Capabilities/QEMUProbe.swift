import Foundation
import JSON
import Logging
import QMP

/// Starts a QEMU binary with nothing in it (`-machine none -S -nodefaults`) and asks it over
/// QMP what it supports: version, QOM types, the properties of the types the object model
/// uses, the q35 machine's properties and the QAPI schema.
///
/// QEMU connects to a socket we listen on (`-qmp unix:PATH`, client mode) instead of us
/// waiting for its socket to appear: no start-up race, and if QEMU dies first the wait ends
/// at once with QEMU's own error message.
public struct QEMUProbe: Sendable {
    /// Object types whose properties are recorded (those the object model renders).
    public static let defaultObjectTypes = [
        "sev-guest", "sev-snp-guest", "igvm-cfg", "nocc", "memory-backend-ram", "memory-backend-memfd",
        "memory-backend-file",
    ]
    /// Device types whose properties are recorded.
    public static let defaultDeviceTypes = ["vmfwupdate", "fw_cfg_io"]
    /// Machine aliases whose properties are recorded.
    public static let defaultMachines = ["q35", "pc"]

    public var objectTypes: [String]
    public var deviceTypes: [String]
    public var machines: [String]
    /// Upper bound for the whole probe.
    public var timeout: Duration
    public var logger: Logger

    public init(
        objectTypes: [String] = QEMUProbe.defaultObjectTypes, deviceTypes: [String] = QEMUProbe.defaultDeviceTypes,
        machines: [String] = QEMUProbe.defaultMachines, timeout: Duration = .seconds(60),
        logger: Logger = Logger(label: "igvm-mgr.probe")
    ) {
        self.objectTypes = objectTypes
        self.deviceTypes = deviceTypes
        self.machines = machines
        self.timeout = timeout
        self.logger = logger
    }

    /// Probes the binary at `path` (absolute, or looked up on PATH).
    public func probe(binary path: String) async throws -> QEMUCapabilities {
        let identity = try QEMUBinaryIdentity(ofBinaryAt: path)
        let directory = try makePrivateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/probe.sock"
        var configuration = QMPClient.Configuration()
        configuration.defaultCommandTimeout = timeout
        configuration.greetingTimeout = timeout
        let listener = try await QMPClientListener.bind(unixSocket: socket, configuration: configuration, logger: logger)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: identity.path)
        process.arguments = [
            "-machine", "none", "-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-no-user-config",
            "-qmp", "unix:\(socket)",
        ]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { p in
            let message = String(decoding: Self.readWithoutBlocking(stderr.fileHandleForReading.fileDescriptor), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            listener.close(reason: "\(identity.path) exited with status \(p.terminationStatus) before QMP was ready"
                + (message.isEmpty ? "" : ": \(message)"))
        }
        do {
            try process.run()
        } catch {
            listener.close(reason: "cannot start")
            throw QEMUProbeError(binary: identity.path, reason: "cannot start: \(error.localizedDescription)")
        }
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        let timeout = self.timeout
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            listener.close(reason: "no QMP connection from QEMU within \(timeout)")
        }
        defer { watchdog.cancel() }
        let qmp: QMPClient
        do {
            qmp = try await listener.accept()
        } catch {
            throw QEMUProbeError(binary: identity.path, reason: "\(error)")
        }
        do {
            let capabilities = try await ask(qmp, identity: identity)
            try? await qmp.quit()
            await qmp.close()
            return capabilities
        } catch {
            await qmp.close()
            throw QEMUProbeError(binary: identity.path, reason: "\(error)")
        }
    }

    /// What the pipe holds now. Not `availableData`: that waits for EOF, and a process spawned
    /// concurrently elsewhere may have inherited the pipe's write end and keep it open for as
    /// long as it lives (seen as a 17 s "quick" failure while the test suite ran QEMUs in parallel).
    static func readWithoutBlocking(_ fd: Int32) -> [UInt8] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[..<n]
        }
        return bytes
    }

    private func ask(_ qmp: QMPClient, identity: QEMUBinaryIdentity) async throws -> QEMUCapabilities {
        // Independent questions, all in flight at once.
        async let version = qmp.queryVersion()
        async let allTypes = qmp.qomListTypes()
        async let creatable = qmp.qomListTypes(implements: "user-creatable")
        async let machineList = qmp.execute("query-machines")
        async let schema = qmp.queryQMPSchema()
        let types = Set(try await allTypes.map(\.name))

        var objectProperties: [String: [QOMPropertyInfo]] = [:]
        for type in objectTypes where types.contains(type) {
            objectProperties[type] = try await qmp.qomListProperties(type)
        }
        var deviceProperties: [String: [QOMPropertyInfo]] = [:]
        for type in deviceTypes where types.contains(type) {
            deviceProperties[type] = try await qmp.deviceListProperties(type)
        }
        var machineProperties: [String: [QOMPropertyInfo]] = [:]
        let machinesReply = try await machineList.arrayValue ?? []
        for alias in machines {
            guard let entry = machinesReply.first(where: { $0["alias"]?.stringValue == alias || $0["name"]?.stringValue == alias }),
                let name = entry["name"]?.stringValue, types.contains(name + "-machine")
            else { continue }
            machineProperties[alias] = try await qmp.qomListProperties(name + "-machine")
        }
        return QEMUCapabilities(
            binary: identity, version: try await version, types: types,
            creatableTypes: Set(try await creatable.map(\.name)), objectProperties: objectProperties,
            deviceProperties: deviceProperties, machineProperties: machineProperties, schema: try await schema)
    }

    private func makePrivateDirectory() throws -> String {
        // Short: a Unix socket path must fit in 108 bytes.
        var template = Array((NSTemporaryDirectory() + "/igvm-mgr-probe-XXXXXX").utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw QEMUProbeError(binary: "", reason: "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(cString: result)
    }
}

/// The probe could not get answers from the binary (it would not start, died, or broke QMP).
public struct QEMUProbeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var binary: String
    public var reason: String
    public var description: String { "cannot probe \(binary): \(reason)" }
}

extension QEMUBinaryIdentity {
    /// Resolves `path` (on PATH when it has no slash) and reads its size and mtime.
    public init(ofBinaryAt path: String) throws {
        let resolved = try Self.resolve(path)
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            throw QEMUProbeError(binary: path, reason: String(cString: strerror(errno)))
        }
        self.init(
            path: resolved, size: Int64(info.st_size),
            modificationTimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    static func resolve(_ path: String) throws -> String {
        if path.contains("/") {
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(dir)/\(path)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw QEMUProbeError(binary: path, reason: "not found on PATH")
    }
}
