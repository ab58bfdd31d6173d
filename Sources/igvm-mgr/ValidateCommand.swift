import ArgumentParser
import IGVM
import Definition
import Launch

/// `igvm-mgr validate CONFIG`: every problem of a VM definition, or `ok`.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a VM definition as QEMU, KVM and the SEV firmware would.",
        discussion: """
            Prints one line per problem, "LEVEL: FILE: KEY: MESSAGE", or "ok". Levels: qemu \
            (QEMU itself would reject it), launch (KVM or the SEV firmware would reject it at \
            launch, or igvm-mgr will not launch it: unknown keys, wrong types), warning.
            --json prints {"valid": bool, "problems": [{"level", "object", "property", "message"}]}.
            Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error or unreadable file.
            """)

    @Argument(help: "The VM definition (TOML; see docs/config.md).")
    var config: String

    @OptionGroup var output: JSONOutput<ProblemOutput.Help>

    @Option(help: "The QEMU version to check against, e.g. 10.2.2 (default: qemu.version of the definition).")
    var qemuVersion: String?

    func validate() throws {
        if let qemuVersion, QEMUVersion(qemuVersion) == nil {
            throw ValidationError("--qemu-version: expected a version like 10.2.2, got \"\(qemuVersion)\"")
        }
    }

    func run() throws {
        let problems: [ConfigProblem]
        do {
            problems = try ConfigValidation.validate(path: config, qemuVersion: qemuVersion)
        } catch {
            for problem in error.problems { Output.error(problem.description) }
            throw ExitStatus.usage
        }
        throw ProblemOutput.report(problems.map(ProblemOutput.entry), json: output.json)
    }
}
