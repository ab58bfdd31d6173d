import ArgumentParser
import Lifecycle
import Supervisor
import VMState

#if canImport(Glibc)
import Glibc
#endif

extension IGVMManager {
    /// Runs the command like ArgumentParser's default `main`, but a usage error (unknown option,
    /// missing argument, a `ValidationError`) exits with 2 as every igvm-mgr command documents,
    /// not ArgumentParser's 64.
    ///
    /// `start`'s own spawn of a supervisor is read without the parser (`SupervisorInvocation`:
    /// one supervisor process starts for every VM, and the parser's reflection was ~12 % of its
    /// CPU until ready); every other command line, `supervise` typed by a person included, is
    /// parsed as declared.
    static func main() async {
        TerminationSignals.unblock()
        if let invocation = SupervisorInvocation(arguments: Array(CommandLine.arguments.dropFirst())) {
            let status = await SupervisorEntry.run(
                name: invocation.name, stateDirectory: StateDirectory(path: invocation.stateDirectory),
                lockDescriptor: SupervisorDescriptors.lock, readinessDescriptor: SupervisorDescriptors.readiness,
                signalStopTimeout: invocation.stopTimeout ?? StopArguments.defaultTimeout)
            Glibc.exit(status)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                var err = StandardError()
                print(fullMessage(for: error), to: &err)
                Glibc.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// The signals that end a command (`kill PID`, Ctrl-C, a closed terminal).
enum TerminationSignals {
    /// Unblocks them in this thread, whose mask every later thread inherits. A signal mask is
    /// inherited across exec: started by a parent that blocks them (a threaded program; a test
    /// runner's Foundation `Process` passes on its thread's mask), `igvm-mgr console` or `events
    /// --follow` would ignore SIGTERM for good. The supervisor then takes SIGTERM and SIGINT
    /// into its own hands (`TerminationSignalSource`).
    static func unblock() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&signals, number) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}
