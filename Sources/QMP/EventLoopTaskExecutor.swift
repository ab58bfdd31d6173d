import NIOCore

/// A Swift `TaskExecutor` that runs jobs on one NIO event loop.
///
/// Why it exists: a `CheckedContinuation` always resumes its task on the *generic* executor
/// (Swift's runtime records no resume executor for continuations), and the task then hops back
/// to wherever it was isolated. For a QMP reply decoded on the event loop that means waking a
/// global-pool thread (futex) which in turn hands the job back to the loop (or to the caller's
/// thread): two or three context switches per command, ~40 µs on a two-core VM. A task that
/// prefers this executor resumes from the continuation straight onto the loop instead, and the
/// reply is delivered without leaving the loop thread (`QMPClient.execute` prefers it for the
/// duration of each command).
///
/// NIO 2.101 has `SerialExecutor` conformances for event loops but no `TaskExecutor`; the two
/// cannot share one object because both protocols name their entry point `enqueue(_:)`.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // From the loop itself this only appends to the loop's task list: no wake-up syscall.
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
