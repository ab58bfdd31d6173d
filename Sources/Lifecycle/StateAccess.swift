import Launch
import VMState

/// Runs a state-directory operation and reports its failure as the lifecycle's error
/// (`LifecycleError.init(StateError)` says which cause is bad input and which a failure).
func stateAccess<T>(_ body: () throws(StateError) -> T) throws(LifecycleError) -> T {
    do { return try body() } catch { throw LifecycleError(error) }
}
