import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

extension IGVMManager {
    /// Runs the command like ArgumentParser's default `main`, but a usage error (unknown option,
    /// missing argument, a `ValidationError`) exits with 2 as every igvm-mgr command documents,
    /// not ArgumentParser's 64.
    static func main() async {
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
