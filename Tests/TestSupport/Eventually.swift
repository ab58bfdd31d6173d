import Foundation
import Synchronization

/// A one-way flag another task sets: `isSet` tells, at the moment of asking, whether it has.
public final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    public init() {}
    public func set() { value.store(true, ordering: .releasing) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Waits until `condition` holds, checking every 10 ms, for at most `timeout`; returns whether it
/// held. The one polling loop the tests use: it always has a deadline, and it sleeps with
/// `Task.sleep`, so a waiting test never blocks a thread other tests' tasks need.
public func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

/// Waits until `value` gives something (non-nil), for at most `timeout`; returns it or nil.
public func eventually<T>(timeout: Duration, _ value: () async throws -> T?) async rethrows -> T? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let found = try await value() { return found }
        if ContinuousClock.now >= deadline { return nil }
        try? await Task.sleep(for: .milliseconds(10))
    }
}
