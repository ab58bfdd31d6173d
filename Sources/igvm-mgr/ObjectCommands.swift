import ArgumentParser
import ObjectModel

/// `igvm-mgr object …`: single QOM objects, outside any VM definition.
struct ObjectCommands: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "object",
        abstract: "Work with single QEMU objects (-object specs).",
        subcommands: [ObjectValidateCommand.self])
}

/// `igvm-mgr object validate SPEC`: one `-object` value, validated alone.
struct ObjectValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate one -object spec (key=value or JSON form) on its own.",
        discussion: """
            SPEC is what follows -object on QEMU's command line, e.g. \
            'sev-snp-guest,id=s0,reduced-phys-bits=1,policy=0x30000' or \
            '{"qom-type":"sev-snp-guest","id":"s0","reduced-phys-bits":1}'.
            Prints one line per problem, "LEVEL: OBJECT.PROPERTY: MESSAGE", or "ok". Levels: qemu \
            (QEMU would reject it), launch (KVM or the SEV firmware would reject it at launch), warning.
            --json prints {"valid": bool, "problems": [{"level", "object", "property", "message"}]}.
            Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.
            """)

    @Argument(help: "The -object value, in key=value or JSON form.")
    var spec: String

    @OptionGroup var output: JSONOutput<ProblemOutput.Help>

    func run() throws {
        throw ProblemOutput.report(ObjectSpec.validate(spec).map(ProblemOutput.entry), json: output.json)
    }
}
