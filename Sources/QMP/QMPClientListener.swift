import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client side of QMP over a socket that *we* listen on and QEMU connects to
/// (`-qmp unix:PATH` without `server=on`, as qemu.qmp's `start_server_and_accept`).
///
/// Listening before QEMU starts removes the start-up race entirely: no waiting for a socket
/// file, and if QEMU dies before connecting, `close(reason:)` (e.g. from the process's
/// termination handler) fails the pending `accept()` at once. One-shot: the first connection
/// is taken, later ones are refused, and the socket file is removed after `accept`.
public final class QMPClientListener: Sendable {
    public let path: String
    private let serverChannel: any Channel
    private let accepted: EventLoopPromise<any Channel>
    private let core: QMPClientCore
    private let configuration: QMPClient.Configuration

    private init(
        path: String, serverChannel: any Channel, accepted: EventLoopPromise<any Channel>, core: QMPClientCore,
        configuration: QMPClient.Configuration
    ) {
        self.path = path
        self.serverChannel = serverChannel
        self.accepted = accepted
        self.core = core
        self.configuration = configuration
    }

    /// Listens on `path` (replacing a stale socket file; mode 0600).
    public static func bind(
        unixSocket path: String,
        configuration: QMPClient.Configuration = QMPClient.Configuration(),
        logger: Logger = Logger(label: "igvm-mgr.qmp"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> QMPClientListener {
        let eventLoop = eventLoopGroup.next()
        let core = QMPClientCore(configuration: configuration, logger: logger, eventLoop: eventLoop)
        let accepted = eventLoop.makePromise(of: (any Channel).self)
        let taken = Atomic<Bool>(false)
        let serverChannel: any Channel
        do {
            serverChannel = try await ServerBootstrap(group: eventLoop, childGroup: eventLoop)
                .serverChannelOption(.backlog, value: 1)
                .childChannelInitializer { channel in
                    guard taken.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
                    else { return channel.close() }
                    return channel.eventLoop.makeCompletedFuture {
                        try core.installHandler(on: channel)
                        accepted.succeed(channel)
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } catch {
            accepted.fail(error)
            throw QMPClientError.connectionFailed(path: path, reason: "cannot listen: \(error)")
        }
        chmod(path, 0o600)
        return QMPClientListener(
            path: path, serverChannel: serverChannel, accepted: accepted, core: core, configuration: configuration)
    }

    /// Waits for the peer to connect, then reads its greeting and negotiates.
    ///
    /// - Throws: `QMPClientError.connectionFailed` when `close(reason:)` came first, plus
    ///   everything `QMPClient.connect` throws.
    public func accept() async throws -> QMPClient {
        let channel: any Channel
        do {
            channel = try await accepted.futureResult.get()
        } catch {
            try? await serverChannel.close()
            throw error
        }
        try? await serverChannel.close()
        unlink(path)
        return try await QMPClient.negotiate(channel: channel, core: core, configuration: configuration)
    }

    deinit {
        accepted.fail(QMPClientError.connectionFailed(path: path, reason: "listener released"))
        serverChannel.close(promise: nil)
    }

    /// Gives up: a pending or future `accept()` fails with `reason` (e.g. "QEMU exited with status 1").
    public func close(reason: String) {
        accepted.fail(QMPClientError.connectionFailed(path: path, reason: reason))
        serverChannel.close(promise: nil)
        unlink(path)
    }
}
