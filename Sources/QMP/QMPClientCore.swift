import Numerals
import JSON
import Logging
import NIOCore
import Synchronization

/// The client's shared state: pending commands by id, subscribers, the connection's phase.
///
/// Touched from callers' tasks (register, cancel, subscribe) and from the event loop (replies,
/// events, disconnect), so it sits behind one mutex. Continuations are resumed and streams fed
/// *outside* the lock: resuming can run arbitrary code (a stream's `onTermination`) that must be
/// free to call back in.
final class QMPClientCore: Sendable {
    /// A command waiting for its reply. Its continuation is resumed exactly once, by whoever
    /// removes it from `State` under the lock (reply, timeout, cancellation, disconnect), so the
    /// unchecked kind is safe and saves the checked one's allocation on every command.
    struct Pending {
        let command: String
        let continuation: UnsafeContinuation<JSON, any Error>
        var timeout: Scheduled<Void>?
    }

    struct State {
        var channel: (any Channel)?
        var nextID: UInt64 = 1
        var pending: [String: Pending] = [:]
        /// Id-less commands in flight (only `qmp_capabilities` during negotiation), oldest first.
        var idless: [Pending] = []
        /// Ids whose caller stopped waiting (timeout, cancellation): their late replies are expected.
        var abandoned: Set<String> = []
        var subscribers: [ObjectIdentifier: QMPEventSubscription] = [:]
        var greeting: QMPGreeting?
        var greetingWaiter: CheckedContinuation<QMPGreeting, any Error>?
        var ready = false
        var eventsBeforeReady: [QMPEvent] = []
        var closed: QMPDisconnectCause?
    }

    let state = Mutex(State())
    let logger: Logger
    let idPrefix: String
    let earlyEventLimit: Int
    let disconnectPromise: EventLoopPromise<QMPDisconnectCause>

    let maximumMessageSize: Int

    init(configuration: QMPClient.Configuration, logger: Logger, eventLoop: any EventLoop) {
        self.logger = logger
        self.idPrefix = configuration.idPrefix
        self.earlyEventLimit = configuration.earlyEventLimit
        self.maximumMessageSize = configuration.maximumMessageSize
        self.disconnectPromise = eventLoop.makePromise()
    }

    /// Puts the transport handler feeding this core on a new channel (on its event loop).
    func installHandler(on channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(QMPClientHandler(core: self, maximumMessageSize: maximumMessageSize))
    }

    deinit {
        // A core that never connected still owes its promise a value (NIO checks for leaks).
        disconnectPromise.succeed(.closedByClient)
    }

    // MARK: Commands

    /// Sends `command` and waits for its reply. `withID: false` sends it id-less (negotiation).
    func execute(
        _ name: String, arguments: JSONObject?, outOfBand: Bool, timeout: Duration?, withID: Bool = true,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> JSON {
        let id: String? = withID ? state.withLock { s in
            defer { s.nextID &+= 1 }
            return idPrefix + String(s.nextID)
        } : nil
        let command = QMPCommand(name, arguments: arguments, id: id.map(JSON.string), outOfBand: outOfBand)
        let bytes = try QMPFrameEncoder.encode(command.json)
        // The operation must stay on the caller's executor (see QMPClient.execute), and the
        // continuation must resume there: both get the caller's isolation explicitly.
        return try await withTaskCancellationHandler(operation: {
            try await withUnsafeThrowingContinuation(isolation: isolation) { (continuation: UnsafeContinuation<JSON, any Error>) in
                let outcome: Result<any Channel, any Error> = state.withLock { s in
                    if let cause = s.closed {
                        return .failure(QMPClientError.notConnected(command: name, cause: cause))
                    }
                    guard let channel = s.channel else {
                        return .failure(QMPClientError.notConnected(command: name, cause: .peerClosed))
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var pending = Pending(command: name, continuation: continuation)
                    if let timeout, let id {
                        pending.timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                            [weak self] in self?.timedOut(id: id, after: timeout)
                        }
                    }
                    if let id { s.pending[id] = pending } else { s.idless.append(pending) }
                    return .success(channel)
                }
                switch outcome {
                case .failure(let error): continuation.resume(throwing: error)
                case .success(let channel):
                    var buffer = channel.allocator.buffer(capacity: bytes.count)
                    buffer.writeBytes(bytes)
                    channel.writeAndFlush(buffer, promise: nil)
                }
            }
        }, onCancel: {
            if let id { self.abandon(id: id, error: CancellationError()) }
        }, isolation: isolation)
    }

    private func timedOut(id: String, after: Duration) {
        let command = state.withLock { $0.pending[id]?.command } ?? ""
        abandon(id: id, error: QMPClientError.timedOut(command: command, seconds: after.seconds))
    }

    /// Stops waiting for `id`: its caller gets `error`, a late reply is dropped.
    private func abandon(id: String, error: any Error) {
        let pending: Pending? = state.withLock { s in
            guard let p = s.pending.removeValue(forKey: id) else { return nil }
            s.abandoned.insert(id)
            return p
        }
        guard let pending else { return }
        pending.timeout?.cancel()
        pending.continuation.resume(throwing: error)
    }

    // MARK: Inbound

    /// Handles one decoded message from the peer. Throws on a protocol violation (the caller
    /// then closes the connection).
    func receive(_ message: JSON) throws(QMPProtocolViolation) {
        switch try QMPServerMessage(message) {
        case .event(let event):
            deliver(event)
        case .greeting(let greeting):
            let waiter: CheckedContinuation<QMPGreeting, any Error>?? = state.withLock { s in
                if s.greeting != nil { return .none }
                s.greeting = greeting
                defer { s.greetingWaiter = nil }
                return .some(s.greetingWaiter)
            }
            switch waiter {
            case .none: throw QMPProtocolViolation("a second greeting")
            case .some(let w): w?.resume(returning: greeting)
            }
        case .success(let value, let id):
            try complete(id: id, with: .success(value), isError: false)
        case .error(let error):
            try complete(id: error.id, with: .failure(error), isError: true)
        }
    }

    private func complete(id: JSON?, with result: Result<JSON, QMPCommandError>, isError: Bool) throws(QMPProtocolViolation) {
        enum Route { case pending(Pending), unknown(wasAbandoned: Bool), idlessUnexpected }
        let route: Route = state.withLock { s in
            guard let id else {
                if s.idless.isEmpty { return .idlessUnexpected }
                return .pending(s.idless.removeFirst())
            }
            if let key = id.stringValue, let p = s.pending.removeValue(forKey: key) { return .pending(p) }
            if let key = id.stringValue, s.abandoned.remove(key) != nil { return .unknown(wasAbandoned: true) }
            return .unknown(wasAbandoned: false)
        }
        switch route {
        case .pending(let p):
            p.timeout?.cancel()
            switch result {
            case .success(let value): p.continuation.resume(returning: value)
            case .failure(var error):
                error.command = p.command
                p.continuation.resume(throwing: error)
            }
        case .unknown(let wasAbandoned):
            if wasAbandoned {
                logger.debug("QMP reply to an abandoned command dropped", metadata: ["id": "\(id!)"])
            } else {
                logger.warning("QMP reply with unknown id dropped", metadata: ["id": "\(id!)"])
            }
        case .idlessUnexpected:
            if isError, case .failure(let error) = result {
                // qmp-spec: the server answers an id-less error when it could not parse a command;
                // with nothing id-less pending, some command of ours was lost.
                throw QMPProtocolViolation("id-less error while no id-less command was pending: \(error)")
            }
            logger.warning("QMP id-less reply dropped: nothing id-less was pending")
        }
    }

    // MARK: Events

    func deliver(_ event: QMPEvent) {
        let subscribers: [QMPEventSubscription] = state.withLock { s in
            if !s.ready {
                s.eventsBeforeReady.append(event)
                if s.eventsBeforeReady.count > earlyEventLimit { s.eventsBeforeReady.removeFirst() }
            }
            return Array(s.subscribers.values)
        }
        for subscriber in subscribers where !subscriber.offer(event) {
            remove(subscriber)
        }
    }

    func subscribe(_ filter: QMPEventFilter, bufferSize: Int) -> QMPEventSubscription {
        let subscription = QMPEventSubscription(filter: filter, bufferSize: bufferSize)
        let cause: QMPDisconnectCause? = state.withLock { s in
            if s.closed == nil { s.subscribers[ObjectIdentifier(subscription)] = subscription }
            return s.closed
        }
        if let cause {
            Self.finish(subscription, cause: cause)
        } else {
            subscription.continuation.onTermination = { [weak self, weak subscription] _ in
                if let self, let subscription { self.remove(subscription) }
            }
        }
        return subscription
    }

    private func remove(_ subscription: QMPEventSubscription) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(subscription)) }
    }

    private static func finish(_ subscription: QMPEventSubscription, cause: QMPDisconnectCause) {
        if cause == .closedByClient {
            subscription.continuation.finish()
        } else {
            subscription.continuation.finish(throwing: QMPClientError.interrupted(command: "event subscription", cause: cause))
        }
    }

    // MARK: Connection

    func attach(_ channel: any Channel) {
        state.withLock { $0.channel = channel }
    }

    func waitForGreeting(timeout: Duration, on eventLoop: any EventLoop) async throws -> QMPGreeting {
        let timer = eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [weak self] in
            self?.failGreeting(QMPClientError.greetingTimedOut(seconds: timeout.seconds))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let ready: Result<QMPGreeting, any Error>? = state.withLock { s in
                if let g = s.greeting { return .success(g) }
                if let cause = s.closed { return .failure(QMPClientError.negotiationFailed("no greeting: \(cause)")) }
                s.greetingWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    private func failGreeting(_ error: any Error) {
        let waiter = state.withLock { s in
            defer { s.greetingWaiter = nil }
            return s.greetingWaiter
        }
        waiter?.resume(throwing: error)
    }

    func markReady() -> [QMPEvent] {
        state.withLock { s in
            s.ready = true
            return s.eventsBeforeReady
        }
    }

    var disconnectCause: QMPDisconnectCause? { state.withLock { $0.closed } }

    /// Ends the session: every pending command fails with `interrupted` carrying `cause`, every
    /// subscription ends. Idempotent: the first cause wins.
    func disconnect(_ cause: QMPDisconnectCause) {
        let taken: State? = state.withLock { s in
            guard s.closed == nil else { return nil }
            s.closed = cause
            let copy = s
            s.pending = [:]
            s.idless = []
            s.subscribers = [:]
            s.greetingWaiter = nil
            return copy
        }
        guard let taken else { return }
        if cause != .closedByClient {
            // Debug only: every pending command fails with the cause, and an end the caller
            // expected (a `quit`, a supervisor exiting after `stop`) is no news on stderr.
            logger.debug("QMP connection ended", metadata: ["cause": "\(cause)", "pending": "\(taken.pending.count)"])
        }
        for p in Array(taken.pending.values) + taken.idless {
            p.timeout?.cancel()
            p.continuation.resume(throwing: QMPClientError.interrupted(command: p.command, cause: cause))
        }
        taken.greetingWaiter?.resume(throwing: QMPClientError.negotiationFailed("no greeting: \(cause)"))
        for subscriber in taken.subscribers.values { Self.finish(subscriber, cause: cause) }
        disconnectPromise.succeed(cause)
    }
}
