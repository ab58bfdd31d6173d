import Synchronization

/// Which events a subscriber wants: by name, by predicate, or both (both must match).
public struct QMPEventFilter: Sendable {
    public var names: Set<String>?
    public var predicate: (@Sendable (QMPEvent) -> Bool)?

    /// Every event.
    public static let all = QMPEventFilter()

    public init(names: Set<String>? = nil, where predicate: (@Sendable (QMPEvent) -> Bool)? = nil) {
        self.names = names
        self.predicate = predicate
    }

    public func matches(_ event: QMPEvent) -> Bool {
        if let names, !names.contains(event.name) { return false }
        if let predicate, !predicate(event) { return false }
        return true
    }
}

/// A stream of the events one subscriber asked for.
///
/// **Bounded, drop-oldest.** Each subscription buffers at most `bufferSize` undelivered events.
/// When a new event arrives at a full buffer, the *oldest* buffered event is discarded and
/// `droppedCount` goes up by one: the connection is never slowed down or blocked by a slow
/// subscriber (go-qemu's blocking channels hung their reader), memory stays bounded
/// (qemu.qmp's queues grow without limit), and a reader that catches up sees the most recent
/// state. A consumer for which every event matters checks `droppedCount`.
///
/// The sequence ends when the subscription is cancelled or the client closed; it **throws**
/// `QMPClientError.interrupted` (with the root cause) when the connection is lost, so a
/// listener never goes silent unnoticed.
public final class QMPEventSubscription: AsyncSequence, Sendable {
    public typealias Element = QMPEvent

    let stream: AsyncThrowingStream<QMPEvent, any Error>
    let continuation: AsyncThrowingStream<QMPEvent, any Error>.Continuation
    let filter: QMPEventFilter
    /// The most events held for this subscriber.
    public let bufferSize: Int
    private let drops = Atomic<Int>(0)

    init(filter: QMPEventFilter, bufferSize: Int) {
        self.filter = filter
        self.bufferSize = Swift.max(1, bufferSize)
        (stream, continuation) = AsyncThrowingStream.makeStream(
            of: QMPEvent.self, throwing: (any Error).self, bufferingPolicy: .bufferingNewest(Swift.max(1, bufferSize)))
    }

    /// Events discarded because the buffer was full (oldest first).
    public var droppedCount: Int { drops.load(ordering: .relaxed) }

    /// Stops the subscription: the sequence ends after the events already buffered.
    public func cancel() { continuation.finish() }

    public func makeAsyncIterator() -> AsyncThrowingStream<QMPEvent, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Offers an event; false if the subscription has ended.
    func offer(_ event: QMPEvent) -> Bool {
        guard filter.matches(event) else { return true }
        switch continuation.yield(event) {
        case .enqueued: return true
        case .dropped: drops.add(1, ordering: .relaxed); return true
        case .terminated: return false
        @unknown default: return true
        }
    }
}
