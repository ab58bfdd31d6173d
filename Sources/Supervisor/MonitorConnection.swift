import QMP
import JSON

/// Connecting QMP clients to the sockets the lifecycle uses: QEMU's own monitor (a listening
/// socket the supervisor created before QEMU started, so no waiting for it to appear) and the
/// supervisors' control sockets.
public enum MonitorConnection {
    /// Connects and negotiates, waiting at most `timeout` for the greeting.
    public static func connect(_ socketPath: String, timeout: Duration) async throws -> QMPClient {
        var configuration = QMPClient.Configuration()
        configuration.greetingTimeout = timeout
        return try await QMPClient.connect(unixSocket: socketPath, configuration: configuration)
    }
}
