/// One thing wrong with a VM definition: which file, which key, what was expected.
///
/// Rendered as one line, `FILE: KEY: MESSAGE`, e.g.
/// `configs/x.toml: confidential.policy: expected a hex string like "0x30000", got integer 196608`.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The config file as the user named it (not resolved), so the message points where they looked.
    public var file: String
    /// Dotted key path (`qemu.memory`, `confidential.policy`); empty for the file as a whole.
    public var key: String
    /// What was wrong, ideally "expected …, got …".
    public var message: String

    public init(file: String, key: String, message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)"
    }
}

/// A VM definition that could not be read or is not valid; carries every problem found, not
/// only the first, so one run of `igvm-mgr validate` shows them all.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// Why the definition was rejected.
    public enum Kind: Sendable {
        /// The file could not be read, or is not TOML at all (exit status 2 in the CLI).
        case unreadable
        /// The file is TOML but not a valid VM definition (exit status 1 in the CLI).
        case invalid
    }

    public var kind: Kind
    public var problems: [ConfigProblem]

    public init(kind: Kind, problems: [ConfigProblem]) {
        self.kind = kind
        self.problems = problems
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
