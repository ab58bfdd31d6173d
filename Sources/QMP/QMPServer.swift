import JSON
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A command received by a `QMPServer`, with the connection it came on.
public struct QMPServerRequest: Sendable {
    public let command: QMPCommand
    public let connection: QMPServerConnection
}

/// One client connection of a `QMPServer`.
public final class QMPServerConnection: Sendable {
    /// Unique within the server, in order of acceptance.
    public let number: Int
    let channel: any Channel
    let negotiated = Atomic<Bool>(false)

    init(number: Int, channel: any Channel) {
        self.number = number
        self.channel = channel
    }

    /// Sends an event to this connection (dropped while it is still negotiating, as QEMU does).
    public func send(_ event: QMPEvent) {
        guard negotiated.load(ordering: .acquiring) else { return }
        write(event.json)
    }

    /// Closes this connection (e.g. after replying to a `quit`-like command).
    public func close() { channel.close(promise: nil) }

    /// Returns once the connection is closed (by either side).
    public func closed() async { try? await channel.closeFuture.get() }

    func write(_ message: JSON) {
        guard let bytes = try? QMPFrameEncoder.encode(message) else { return }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(buffer, promise: nil)
    }
}

/// A QMP server on a Unix socket: the supervisor's control socket, which any QMP client
/// (`QMPClient`, Python `qemu.qmp`, `qmp-shell`) can drive.
///
/// The protocol part (greeting, negotiation, malformed input, error replies) is
/// `QMPServerSession`; commands go to `handler`, **one at a time per connection in arrival
/// order** (as QEMU runs in-band commands), while different connections run concurrently.
/// The handler returns the `return` value or throws: a `QMPCommandError` keeps its class,
/// anything else becomes a `GenericError`. Unknown commands: throw `.commandNotFound(name)`.
public final class QMPServer: Sendable {
    public typealias Handler = @Sendable (QMPServerRequest) async throws -> JSON

    /// The socket's path.
    public let path: String
    private let serverChannel: any Channel
    private let registry: Registry

    final class Registry: Sendable {
        let connections = Mutex<[Int: QMPServerConnection]>([:])
        let counter = Atomic<Int>(0)
    }

    private init(path: String, serverChannel: any Channel, registry: Registry) {
        self.path = path
        self.serverChannel = serverChannel
        self.registry = registry
    }

    /// Listens on `path` (an existing socket file there is replaced; the socket is made 0600).
    /// A message longer than `maximumMessageSize` bytes gets a `GenericError` naming the limit
    /// and the connection is closed (the rest of the message cannot be skipped reliably).
    public static func listen(
        unixSocket path: String,
        greeting: QMPGreeting,
        maximumMessageSize: Int = QMPFrameDecoder.defaultMaximumMessageSize,
        backlog: Int32 = QMPServer.defaultBacklog,
        logger: Logger = Logger(label: "igvm-mgr.qmp-server"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handler: @escaping Handler
    ) async throws -> QMPServer {
        let registry = Registry()
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: backlog)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = registry.counter.wrappingAdd(1, ordering: .relaxed).newValue
                    let connection = QMPServerConnection(number: number, channel: channel)
                    registry.connections.withLock { $0[number] = connection }
                    try channel.pipeline.syncOperations.addHandler(
                        QMPServerHandler(
                            session: QMPServerSession(greeting: greeting), connection: connection,
                            registry: registry, handler: handler, logger: logger, maximumMessageSize: maximumMessageSize))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o600)
        return QMPServer(path: path, serverChannel: channel, registry: registry)
    }

    /// Pending connections the kernel queues (SOMAXCONN's default since Linux 5.4 is 4096; 128
    /// covers many clients connecting at once without one refused with EAGAIN).
    public static let defaultBacklog: Int32 = 128

    /// Sends an event to every negotiated connection.
    public func emit(_ event: QMPEvent) {
        for connection in connections { connection.send(event) }
    }

    /// The open connections.
    public var connections: [QMPServerConnection] {
        registry.connections.withLock { Array($0.values) }.sorted { $0.number < $1.number }
    }

    /// Stops listening and closes every connection.
    public func close() async {
        try? await serverChannel.close()
        for connection in connections { try? await connection.channel.close() }
        unlink(path)
    }
}

/// Per-connection transport: frames in, the session decides, commands queue for the handler.
final class QMPServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Work: Sendable {
        case reply(JSON)
        /// The reply that completes negotiation: events may flow once it is written.
        case negotiated(JSON)
        case dispatch(QMPCommand)
    }

    private var session: QMPServerSession
    private var decoder: QMPFrameDecoder
    private let connection: QMPServerConnection
    private let registry: QMPServer.Registry
    private let queue: AsyncStream<Work>.Continuation
    private let logger: Logger

    init(
        session: QMPServerSession, connection: QMPServerConnection, registry: QMPServer.Registry,
        handler: @escaping QMPServer.Handler, logger: Logger, maximumMessageSize: Int = QMPFrameDecoder.defaultMaximumMessageSize
    ) {
        self.decoder = QMPFrameDecoder(maximumMessageSize: maximumMessageSize)
        self.session = session
        self.connection = connection
        self.registry = registry
        self.logger = logger
        let (stream, continuation) = AsyncStream<Work>.makeStream()
        self.queue = continuation
        // Replies leave in the order the messages came in: protocol-level answers queue behind
        // commands still running.
        Task {
            for await work in stream {
                switch work {
                case .reply(let message):
                    connection.write(message)
                case .negotiated(let message):
                    connection.write(message)
                    connection.negotiated.store(true, ordering: .releasing)
                case .dispatch(let command):
                    let result: Result<JSON, any Error>
                    do {
                        result = .success(try await handler(QMPServerRequest(command: command, connection: connection)))
                    } catch {
                        result = .failure(error)
                    }
                    connection.write(QMPServerSession.reply(to: command, result: result))
                }
            }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        connection.write(session.greetingMessage)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.append($0) }
        do {
            while let frame = try decoder.nextFrame() {
                let wasNegotiating = session.phase == .negotiation
                switch session.receive(frame) {
                case .reply(let message):
                    let completes = wasNegotiating && session.phase == .commands
                    queue.yield(completes ? .negotiated(message) : .reply(message))
                case .dispatch(let command): queue.yield(.dispatch(command))
                }
            }
        } catch {
            logger.warning("QMP client broke the protocol; closing", metadata: ["reason": "\(error)"])
            // Said to the client too, so that it knows why the connection ends.
            connection.write(["error": ["class": "GenericError", "desc": .string("\(error)")]])
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        queue.finish()
        _ = registry.connections.withLock { $0.removeValue(forKey: connection.number) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
