import Synchronization

/// A value that becomes known once (QEMU's exit status, say), awaited by any number of tasks,
/// each with an optional timeout.
public final class OnceValue<Value: Sendable>: Sendable {
    private struct Storage {
        var value: Value?
        var waiters: [Int: CheckedContinuation<Value?, Never>] = [:]
        var nextID = 0
    }
    private let storage = Mutex(Storage())

    public init() {}

    /// The value, if it is known already.
    public var current: Value? { storage.withLock { $0.value } }

    /// Sets the value (the first call wins) and wakes every waiter.
    public func set(_ value: Value) {
        let waiters = storage.withLock { s -> [CheckedContinuation<Value?, Never>] in
            guard s.value == nil else { return [] }
            s.value = value
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// Waits for the value; nil when `timeout` passes first or the task is cancelled.
    public func wait(timeout: Duration? = nil) async -> Value? {
        let id = storage.withLock { s -> Int in s.nextID += 1; return s.nextID }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let known = storage.withLock { s -> Value?? in
                    if let value = s.value { return .some(value) }
                    s.waiters[id] = continuation
                    return .none
                }
                if let known {
                    continuation.resume(returning: known)
                    return
                }
                // Cancelled before the waiter was registered: the handler found nothing to end.
                if Task.isCancelled { expire(id) }
                if let timeout {
                    Task { [self] in
                        try? await Task.sleep(for: timeout)
                        expire(id)
                    }
                }
            }
        } onCancel: {
            expire(id)
        }
    }

    private func expire(_ id: Int) {
        let waiter = storage.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume(returning: nil)
    }
}
