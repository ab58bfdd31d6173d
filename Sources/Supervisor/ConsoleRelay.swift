import FileAccess
import JSON
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The guest's serial console of a `[console]` VM, relayed by the supervisor: QEMU's first
/// serial port is one end of a socket pair (`-chardev socket,fd=4,server=off`), the supervisor
/// holds the other for the supervisor's whole life, appends every byte the guest prints to
/// `console.log`, and relays it to the one attached `igvm-mgr console` on `console.sock`.
///
/// So the log, the attachment and its takeover belong to the supervisor, not to QEMU: the guest
/// never waits for a viewer (a client that reads too slowly misses output, which the log keeps,
/// and is told so), and an attachment outlives a relaunch (vmfwupdate) of QEMU.
///
/// Attaching: the client sends one line, `{"attach": {"force": BOOL, "pid": PID}}`, and gets
/// `{"return": {}}` or `{"error": {"class": "GenericError", "desc": "…"}}` back; after
/// `{"return": {}}` the connection carries raw bytes both ways. A second attachment is refused
/// unless it asks for `force`, which detaches the first (told so in its stream).
///
/// Every mutable field is touched on `loop` only.
final class ConsoleRelay: @unchecked Sendable {
    let loop: any EventLoop
    private let name: String
    private let socketPath: String
    private let log: ConsoleLogFile
    private let report: @Sendable (_ event: String, _ data: JSON) -> Void
    private var server: (any Channel)?
    /// Our end of the current QEMU run's console; nil between runs.
    private var qemu: (any Channel)?
    private var attached: Attachment?
    private var closed = false

    /// The attached client, and how much output it missed while it was not reading.
    private struct Attachment {
        let channel: any Channel
        let pid: Int?
        var missedBytes = 0
    }

    /// The longest attach line taken (it is a few dozen bytes).
    static let maximumRequestLength = 4096
    /// Output queued to a client beyond this makes it miss output (the guest is never held up).
    static let clientBacklog = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 256 * 1024)

    /// Opens `logPath` for appending (never through a symlink) and listens on `socketPath`
    /// (mode 0600, like the monitor's). `report` records what the event log should show (a
    /// log that cannot be written, attachments).
    static func open(name: String, socketPath: String, logPath: String,
                     report: @escaping @Sendable (_ event: String, _ data: JSON) -> Void) async throws -> ConsoleRelay {
        let log = try ConsoleLogFile(path: logPath)
        let listener = try UnixListener.listen(at: socketPath)
        let relay = ConsoleRelay(loop: MultiThreadedEventLoopGroup.singleton.next(), name: name, socketPath: socketPath, log: log, report: report)
        do {
            let server = try await ServerBootstrap(group: relay.loop)
                .childChannelOption(.writeBufferWaterMark, value: clientBacklog)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ConsoleClientHandler(relay: relay))
                    }
                }
                .withBoundSocket(listener).get()
            relay.loop.execute { relay.server = server }
        } catch {
            unlink(socketPath)
            throw error
        }
        return relay
    }

    private init(loop: any EventLoop, name: String, socketPath: String, log: ConsoleLogFile,
                 report: @escaping @Sendable (String, JSON) -> Void) {
        self.loop = loop
        self.name = name
        self.socketPath = socketPath
        self.log = log
        self.report = report
    }

    /// A new socket pair for the next QEMU run: ours is relayed from now on, QEMU's end is
    /// returned for the spawn to hand over as descriptor 4 (the caller closes its copy).
    func connectQEMU() throws(SystemError) -> Int32 {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("cannot create the console's socket pair for", socketPath)
        }
        let relay = self
        // Bytes QEMU writes before the channel is registered wait in the socket.
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConsoleQEMUHandler(relay: relay))
                }
            }
            .withConnectedSocket(pair[0])
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    if relay.closed { channel.close(promise: nil) } else { relay.qemu = channel }
                case .failure(let error):
                    relay.report("CONSOLE_FAILED", ["error": .string("\(error)")])
                }
            }
        return pair[1]
    }

    /// Whether a client is attached, and its pid as it gave it: `{"attached": BOOL, "pid": PID|null}`.
    func attachment() async -> JSON {
        let answer: EventLoopFuture<JSON> = loop.submit { [self] in
            ["attached": .bool(attached != nil), "pid": attached?.pid.map(JSON.init) ?? .null]
        }
        return (try? await answer.get()) ?? .null
    }

    /// Stops listening, removes the socket (first, so that a detached client sees the VM gone),
    /// and ends the attachment and the QEMU side.
    func close() async {
        let done: EventLoopFuture<Void> = loop.flatSubmit { [self] in
            closed = true
            unlink(socketPath)
            let channels = [server, qemu, attached?.channel].compactMap { $0 }
            server = nil
            qemu = nil
            attached = nil
            return EventLoopFuture.andAllComplete(channels.map { $0.close() }, on: loop)
        }
        try? await done.get()
    }

    // MARK: - On the loop

    /// The guest printed `bytes`: into the log, then to the attached client if it keeps up.
    fileprivate func guestOutput(_ bytes: ByteBuffer) {
        if let failure = log.append(bytes) { report("CONSOLE_LOG_FAILED", ["error": .string(failure)]) }
        guard var client = attached else { return }
        if client.channel.isWritable {
            client.channel.writeAndFlush(bytes, promise: nil)
        } else {
            client.missedBytes += bytes.readableBytes
            attached = client
        }
    }

    /// The client has read its backlog: it is told what it missed.
    fileprivate func clientCaughtUp(_ channel: any Channel) {
        guard var client = attached, client.channel === channel, client.missedBytes > 0, channel.isWritable else { return }
        let notice = "\r\n[igvm-mgr: \(client.missedBytes) bytes of console output not shown here (read too slowly); `igvm-mgr logs \(name) --console` has them]\r\n"
        client.missedBytes = 0
        attached = client
        channel.writeAndFlush(channel.allocator.buffer(string: notice), promise: nil)
    }

    /// What the attached client typed goes to the guest (dropped between QEMU runs).
    fileprivate func clientInput(_ bytes: ByteBuffer, from channel: any Channel) {
        guard attached?.channel === channel else { return }
        qemu?.writeAndFlush(bytes, promise: nil)
    }

    /// QEMU reads as fast as the guest's UART takes bytes: while it lags, the client's input
    /// waits in the client's socket instead of piling up here.
    fileprivate func qemuWritabilityChanged(_ writable: Bool) {
        _ = attached?.channel.setOption(.autoRead, value: writable)
    }

    fileprivate func qemuEnded(_ channel: any Channel) {
        if qemu === channel { qemu = nil }
    }

    /// The answer to an attach request: nil when attached, else why not.
    fileprivate func attach(_ channel: any Channel, pid: Int?, force: Bool) -> String? {
        if closed { return "the VM \(name) is stopping" }
        if let current = attached, current.channel !== channel {
            guard force else {
                return "the console of \(name) is attached elsewhere\(current.pid.map { " (pid \($0))" } ?? ""); --force takes it over"
            }
            let notice = "\r\n[igvm-mgr: the console was taken over\(pid.map { " by pid \($0)" } ?? "") (--force)]\r\n"
            current.channel.writeAndFlush(current.channel.allocator.buffer(string: notice)).whenComplete { _ in
                current.channel.close(promise: nil)
            }
            report("CONSOLE_TAKEN_OVER", ["pid": pid.map(JSON.init) ?? .null, "from-pid": current.pid.map(JSON.init) ?? .null])
        }
        attached = Attachment(channel: channel, pid: pid)
        qemuWritabilityChanged(qemu?.isWritable ?? true)
        report("CONSOLE_ATTACHED", ["pid": pid.map(JSON.init) ?? .null])
        return nil
    }

    fileprivate func detached(_ channel: any Channel) {
        guard attached?.channel === channel else { return }
        report("CONSOLE_DETACHED", ["pid": attached?.pid.map(JSON.init) ?? .null])
        attached = nil
    }
}

/// `console.log`: opened once per supervisor, appended to by every QEMU run.
final class ConsoleLogFile: @unchecked Sendable {
    private let path: String
    private let fd: Int32
    /// Whether the last append failed (a failure is reported once, not once per byte).
    private var failing = false

    init(path: String) throws(SystemError) {
        self.path = path
        // Never through a symlink planted in the VM folder.
        fd = retryingOnInterrupt { Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw SystemError("cannot open the console log", path) }
    }

    deinit { Glibc.close(fd) }

    /// Appends `bytes`; returns an error the first time appending fails (a full disk), nil
    /// otherwise. The relay goes on either way: the guest's console must not stop with the log.
    func append(_ bytes: ByteBuffer) -> String? {
        let failure: SystemError?
        do { try FileDescriptorIO.writeAll(fd, Array(bytes.readableBytesView), subject: path); failure = nil } catch { failure = error }
        defer { failing = failure != nil }
        guard let failure, !failing else { return nil }
        return failure.description
    }
}

/// Our end of QEMU's serial port.
private final class ConsoleQEMUHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let relay: ConsoleRelay

    init(relay: ConsoleRelay) { self.relay = relay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.guestOutput(unwrapInboundIn(data))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        relay.qemuWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay.qemuEnded(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// One `console.sock` connection: the attach line, then raw bytes.
private final class ConsoleClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let relay: ConsoleRelay
    private var request: ByteBuffer?
    private var isAttached = false

    init(relay: ConsoleRelay) { self.relay = relay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if isAttached {
            relay.clientInput(bytes, from: context.channel)
            return
        }
        var line = request ?? context.channel.allocator.buffer(capacity: 128)
        guard let newline = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            line.writeBuffer(&bytes)
            request = line
            if line.readableBytes > ConsoleRelay.maximumRequestLength { refuse(context, "the attach request is longer than \(ConsoleRelay.maximumRequestLength) bytes") }
            return
        }
        var head = bytes.readSlice(length: newline - bytes.readerIndex + 1)!
        line.writeBuffer(&head)
        request = nil
        let text = String(buffer: line)
        guard let json = try? JSON.decode(text), let attach = json["attach"]?.objectValue else {
            refuse(context, "expected {\"attach\": {\"force\": BOOL, \"pid\": PID}} on the first line")
            return
        }
        if let refusal = relay.attach(context.channel, pid: attach["pid"]?.intValue, force: attach["force"]?.boolValue ?? false) {
            refuse(context, refusal)
            return
        }
        isAttached = true
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "{\"return\": {}}\n")), promise: nil)
        if bytes.readableBytes > 0 { relay.clientInput(bytes, from: context.channel) }
    }

    typealias OutboundOut = ByteBuffer

    private func refuse(_ context: ChannelHandlerContext, _ why: String) {
        let reply = (try? JSON.object(["error": .object(["class": "GenericError", "desc": .string(why)])]).encoded()) ?? "{}"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: reply + "\n"))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { relay.clientCaughtUp(context.channel) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay.detached(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
