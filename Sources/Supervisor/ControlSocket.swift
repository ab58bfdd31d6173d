import JSON
import QMP
import Synchronization

/// The supervisor's control socket (`control.sock`): a QMP server whose commands
/// `ControlCommands` answers. It counts the requests being answered so that, when the VM has
/// ended, the answer to the request that ended it (a `stop`) still reaches its client before the
/// socket closes: `drain` is woken by the last request finishing and by clients hanging up,
/// never by polling.
final class ControlSocket: Sendable {
    private let server: QMPServer
    private let requests: RequestCounter

    /// Listens on `path` with QEMU's `greeting` (without `oob`: control commands run in order on
    /// each connection); `answer` produces each command's reply.
    static func open(path: String, greeting: QMPGreeting, maximumMessageSize: Int,
                     answer: @escaping @Sendable (QMPCommand) async -> Result<JSON, QMPCommandError>) async throws -> ControlSocket {
        let ours = QMPGreeting(version: greeting.version, capabilities: [])
        let requests = RequestCounter()
        let server = try await QMPServer.listen(unixSocket: path, greeting: ours, maximumMessageSize: maximumMessageSize) { request in
            requests.started()
            defer { requests.finished() }
            return try await answer(request.command).get()
        }
        return ControlSocket(server: server, requests: requests)
    }

    private init(server: QMPServer, requests: RequestCounter) {
        self.server = server
        self.requests = requests
    }

    /// Sends a QEMU event to every connected client.
    func emit(_ event: QMPEvent) { server.emit(event) }

    /// Waits, up to `timeout`, for the requests being answered and then for the
    /// clients to hang up; then closes the socket (which ends whatever still waits).
    func drain(timeout: Duration) async {
        let settled = OnceValue<Bool>()
        let server = self.server, requests = self.requests
        Task {
            await requests.idle()
            for connection in server.connections { await connection.closed() }
            settled.set(true)
        }
        _ = await settled.wait(timeout: timeout)
        await server.close()
    }
}

/// Requests in flight, and the tasks waiting for there to be none.
private final class RequestCounter: Sendable {
    private struct State {
        var count = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func started() { state.withLock { $0.count += 1 } }

    func finished() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.count -= 1
            guard s.count == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once no request is in flight.
    func idle() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.count == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
