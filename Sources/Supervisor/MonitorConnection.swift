import VMState
import Launch
import FileAccess
import QMP
import JSON

/// Connecting QMP clients to the sockets the lifecycle uses: QEMU's own monitor (a listening
/// socket the supervisor created before QEMU started, so no waiting for it to appear) and the
/// supervisors' control sockets.
public enum MonitorConnection {
    /// Connects and negotiates, waiting at most `timeout` seconds for the greeting.
    public static func connect(_ socketPath: String, timeout: Double) async throws -> QMPClient {
        var configuration = QMPClient.Configuration()
        configuration.greetingTimeout = .milliseconds(TimeoutSeconds.milliseconds(timeout))
        return try await QMPClient.connect(unixSocket: socketPath, configuration: configuration)
    }

}

extension QMPClient {
    /// Runs `command` with a timeout in seconds (the lifecycle's timeouts are CLI seconds).
    public func execute(_ command: String, arguments: JSONObject?, timeout seconds: Double) async throws -> JSON {
        try await execute(command, arguments, timeout: .milliseconds(TimeoutSeconds.milliseconds(seconds)))
    }
}
