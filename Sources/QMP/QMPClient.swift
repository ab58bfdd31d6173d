import JSON
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A QMP client over a Unix socket.
///
/// Many commands may be in flight at once: each gets a string id of the client's own and its
/// reply is routed by id, whatever the order. Events may arrive at any point and go to every
/// matching `events(…)` subscription. Every command can carry a timeout and is cancelled with
/// its task. When the connection ends, every pending command fails with
/// `QMPClientError.interrupted(command:cause:)` naming the root cause.
///
/// ```swift
/// let qmp = try await QMPClient.connect(unixSocket: "/run/vm/qmp.sock")
/// let stops = qmp.events(QMPEventFilter(names: ["STOP"]))
/// try await qmp.stop()
/// for try await event in stops { print(event.name); break }
/// await qmp.close()
/// ```
public final class QMPClient: Sendable {
    public struct Configuration: Sendable {
        /// How long to wait for the server's greeting after connecting, and again for the answer
        /// to `qmp_capabilities`.
        public var greetingTimeout: Duration = .seconds(10)
        /// Timeout for commands that do not give their own; nil: wait for ever.
        public var defaultCommandTimeout: Duration? = nil
        /// Enable the `oob` capability when the server offers it (needed for `exec-oob`).
        public var enableOutOfBand = true
        /// The largest message accepted from the server.
        public var maximumMessageSize = QMPFrameDecoder.defaultMaximumMessageSize
        /// When set, wait up to this long for the socket to appear and accept connections
        /// (QEMU just started with `-qmp unix:PATH,server=on,wait=off`). Nil: connect once.
        public var waitForSocket: Duration? = nil
        /// Prefix of the client's command ids.
        public var idPrefix = "igvm-mgr#"
        /// Events kept from before negotiation completed (see `eventsBeforeReady`).
        public var earlyEventLimit = 64

        public init() {}
    }

    /// The server's greeting (QEMU version, offered capabilities).
    public let greeting: QMPGreeting
    /// Whether `oob` was enabled during negotiation.
    public let outOfBandEnabled: Bool
    /// Events that arrived before negotiation completed, i.e. before any subscriber could exist.
    public let eventsBeforeReady: [QMPEvent]
    public let configuration: Configuration

    let core: QMPClientCore
    let channel: any Channel

    private init(
        greeting: QMPGreeting, outOfBandEnabled: Bool, eventsBeforeReady: [QMPEvent],
        configuration: Configuration, core: QMPClientCore, channel: any Channel
    ) {
        self.greeting = greeting
        self.outOfBandEnabled = outOfBandEnabled
        self.eventsBeforeReady = eventsBeforeReady
        self.configuration = configuration
        self.core = core
        self.channel = channel
        self.taskExecutor = EventLoopTaskExecutor(channel.eventLoop)
    }

    /// Connects to a QMP server's Unix socket, reads the greeting and negotiates capabilities
    /// (`oob` when offered and `configuration.enableOutOfBand`).
    ///
    /// - Throws: `QMPClientError.connectionFailed`, `.greetingTimedOut`, `.negotiationFailed`.
    public static func connect(
        unixSocket path: String,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "igvm-mgr.qmp"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> QMPClient {
        let (core, bootstrap) = clientBootstrap(configuration, logger, eventLoopGroup)
        let channel = try await SocketConnector(path: path, waitUpTo: configuration.waitForSocket)
            .connect(bootstrap)
        return try await negotiate(channel: channel, core: core, configuration: configuration)
    }

    /// Runs the QMP client protocol over an already connected stream socket (e.g. one end of a
    /// `socketpair` whose other end QEMU got as `-chardev socket,fd=N`). The client owns `fd`.
    public static func connect(
        connectedSocket fd: CInt,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "igvm-mgr.qmp"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> QMPClient {
        let (core, bootstrap) = clientBootstrap(configuration, logger, eventLoopGroup)
        let channel: any Channel
        do {
            channel = try await bootstrap.withConnectedSocket(fd).get()
        } catch {
            throw QMPClientError.connectionFailed(path: "fd \(fd)", reason: "\(error)")
        }
        return try await negotiate(channel: channel, core: core, configuration: configuration)
    }

    /// A client core on one event loop, and a bootstrap whose channels feed it.
    private static func clientBootstrap(
        _ configuration: Configuration, _ logger: Logger, _ group: any EventLoopGroup
    ) -> (QMPClientCore, ClientBootstrap) {
        let eventLoop = group.next()
        let core = QMPClientCore(configuration: configuration, logger: logger, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try core.installHandler(on: channel) }
        }
        return (core, bootstrap)
    }

    static func negotiate(
        channel: any Channel, core: QMPClientCore, configuration: Configuration
    ) async throws -> QMPClient {
        core.attach(channel)
        do {
            let greeting = try await core.waitForGreeting(timeout: configuration.greetingTimeout, on: channel.eventLoop)
            let oob = configuration.enableOutOfBand && greeting.capabilities.contains("oob")
            do {
                // Id-less, as qmp-spec's examples: an id-less error is then the answer to it.
                // Bounded like the greeting: a peer that greets and then stops answering (a
                // supervisor frozen by SIGSTOP right after its greeting) must not hold connect.
                // Closing the channel fails the id-less command as interrupted.
                // The watchdog looks at the command itself (on the event loop that routes its
                // reply), not at this task: a task resumed late on a busy machine must not find
                // a negotiated connection closed under it.
                let timeout = configuration.greetingTimeout
                let watchdog = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                    if core.state.withLock({ !$0.idless.isEmpty }) { channel.close(promise: nil) }
                }
                defer { watchdog.cancel() }
                _ = try await core.execute(
                    "qmp_capabilities", arguments: oob ? ["enable": ["oob"]] : nil, outOfBand: false,
                    timeout: nil, withID: false)
            } catch let error as QMPCommandError {
                throw QMPClientError.negotiationFailed("\(error)")
            } catch QMPClientError.interrupted(_, let cause) {
                throw QMPClientError.negotiationFailed("\(cause)")
            }
            let early = core.markReady()
            return QMPClient(
                greeting: greeting, outOfBandEnabled: oob, eventsBeforeReady: early,
                configuration: configuration, core: core, channel: channel)
        } catch {
            core.disconnect(.closedByClient)
            try? await channel.close()
            throw error
        }
    }

    // MARK: Commands

    /// Executes `name` with `arguments` and returns the `return` value.
    ///
    /// - Parameters:
    ///   - timeout: overrides `configuration.defaultCommandTimeout` (nil: use the default).
    ///   - outOfBand: send as `exec-oob` (needs `outOfBandEnabled`).
    /// - Throws: `QMPCommandError` (the server's error, class and desc kept),
    ///   `QMPClientError.interrupted` / `.timedOut` (outcome unknown), `.notConnected`
    ///   (not sent), `CancellationError` when the task is cancelled (outcome unknown).
    ///
    /// Latency: the command runs with this connection's `taskExecutor` as its task's preferred
    /// executor, so the reply resumes the caller on the event loop that decoded it instead of
    /// waking a global-pool thread. Callers whose own code already runs on the loop (inside
    /// `withTaskExecutorPreference(qmp.taskExecutor)`, or an actor whose executor is
    /// `qmp.eventLoop.executor`) send and receive without any thread hop, which is what gets
    /// within a few microseconds of a raw blocking socket loop. Other callers hop to the loop to
    /// send and back when the reply is in: two hops, as any NIO client.
    nonisolated(nonsending) public func execute(
        _ name: String, _ arguments: JSONObject? = nil, timeout: Duration? = nil, outOfBand: Bool = false
    ) async throws -> JSON {
        let timeout = timeout ?? configuration.defaultCommandTimeout
        return try await withTaskExecutorPreference(taskExecutor) {
            try await core.execute(name, arguments: arguments, outOfBand: outOfBand, timeout: timeout)
        }
    }

    /// The event loop this connection's I/O runs on. An actor can use it as its executor
    /// (`eventLoop.executor.asUnownedSerialExecutor()`) to call `execute` without thread hops.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// A task executor on `eventLoop`: `withTaskExecutorPreference(qmp.taskExecutor) { … }` runs
    /// nonisolated code on the connection's event loop (see `execute`).
    public let taskExecutor: EventLoopTaskExecutor

    // MARK: Events

    /// A new subscription to the events matching `filter`, with a bounded buffer
    /// (drop-oldest; see `QMPEventSubscription`). Only events that arrive after this call are
    /// delivered.
    public func events(_ filter: QMPEventFilter = .all, bufferSize: Int = 1024) -> QMPEventSubscription {
        core.subscribe(filter, bufferSize: bufferSize)
    }

    /// A subscription to the events with these names.
    public func events(named names: String..., bufferSize: Int = 1024) -> QMPEventSubscription {
        core.subscribe(QMPEventFilter(names: Set(names)), bufferSize: bufferSize)
    }

    // MARK: Connection

    /// Commands sent and not yet answered (diagnostics; also lets tests wait for a known state).
    public var pendingCommandCount: Int { core.state.withLock { $0.pending.count + $0.idless.count } }

    /// Why the connection ended, or nil while it is up.
    public var disconnectCause: QMPDisconnectCause? { core.disconnectCause }

    /// Waits until the connection ends and returns why.
    public func waitUntilDisconnected() async -> QMPDisconnectCause {
        (try? await core.disconnectPromise.futureResult.get()) ?? .closedByClient
    }

    /// Closes the connection. Pending commands fail with `interrupted(… .closedByClient)`,
    /// subscriptions end normally. Idempotent.
    public func close() async {
        core.disconnect(.closedByClient)
        try? await channel.close()
    }
}

/// Connecting to a Unix socket, optionally waiting for it to appear first.
struct SocketConnector {
    let path: String
    let waitUpTo: Duration?

    func connect(_ bootstrap: ClientBootstrap) async throws -> any Channel {
        guard let waitUpTo else {
            do { return try await attempt(bootstrap) } catch let refused as ConnectionRefused { throw refused.failure }
        }
        let deadline = ContinuousClock.now + waitUpTo
        try await SocketPathWatcher.waitForPath(path, until: deadline)
        while true {
            do {
                return try await attempt(bootstrap)
            } catch let refused as ConnectionRefused {
                // The file exists but the server has not called listen() yet (QEMU binds and
                // listens in consecutive calls): a very short window, retried until the deadline.
                guard ContinuousClock.now < deadline else { throw refused.failure }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// ECONNREFUSED, kept apart so that only it is retried.
    private struct ConnectionRefused: Error {
        let failure: QMPClientError
    }

    private func attempt(_ bootstrap: ClientBootstrap) async throws -> any Channel {
        do {
            return try await bootstrap.connect(unixDomainSocketPath: path).get()
        } catch let error as IOError {
            let failure = QMPClientError.connectionFailed(path: path, reason: String(cString: strerror(error.errnoCode)))
            if error.errnoCode == ECONNREFUSED { throw ConnectionRefused(failure: failure) }
            throw failure
        } catch {
            throw QMPClientError.connectionFailed(path: path, reason: "\(error)")
        }
    }
}
