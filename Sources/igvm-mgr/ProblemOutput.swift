import ArgumentParser
import JSON
import Definition
import ObjectModel

/// The shared output of `validate` and `object validate`: a line per problem (or `ok`), or
/// `{"valid": bool, "problems": [{"level", "object", "property", "message"}]}`.
enum ProblemOutput {
    /// `--json`'s help line in both commands.
    enum Help: JSONFlagHelp { static let text = "Print the result as JSON." }

    struct Entry {
        var level: Problem.Level
        var object: String
        var property: String?
        var message: String
        /// The human line: `LEVEL: where: message`.
        var line: String
    }

    static func entry(_ p: ConfigProblem) -> Entry {
        Entry(level: p.level, object: p.object, property: p.property, message: p.message,
              line: "\(p.level.rawValue): \(p.description)")
    }

    static func entry(_ p: Problem) -> Entry {
        Entry(level: p.level, object: p.object, property: p.property, message: p.message,
              line: "\(p.level.rawValue): \(p.description)")
    }

    /// Prints the entries and returns the exit status: 0 when no entry is an error.
    static func report(_ entries: [Entry], json: Bool) -> ExitCode {
        let valid = !entries.contains { $0.level.isError }
        if json {
            let problems: [JSON] = entries.map { e in
                .object([
                    "level": .string(e.level.rawValue), "object": .string(e.object),
                    "property": e.property.map(JSON.string) ?? .null, "message": .string(e.message),
                ])
            }
            Output.json(.object(["valid": .bool(valid), "problems": .array(problems)]))
        } else if entries.isEmpty {
            Output.line("ok")
        } else {
            for e in entries { Output.line(e.line) }
            if valid { Output.line("ok (warnings only)") }
        }
        return valid ? ExitStatus.ok : ExitStatus.failure
    }
}
