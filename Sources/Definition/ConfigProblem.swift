import ObjectModel

/// One thing wrong with a VM definition: which file, which key, what was expected.
///
/// Rendered as one line, `FILE: KEY: MESSAGE`, e.g.
/// `configs/x.toml: confidential.policy: expected a hex string like "0x30000", got integer 196608`.
/// Problems the object model finds are reported the same way, under the config key that set
/// the property, keeping the model's object id and property name for `--json`.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The config file as the user named it (not resolved), so the message points where they looked.
    public var file: String
    /// Dotted key path (`qemu.memory`, `confidential.policy`); empty for the file as a whole.
    public var key: String
    /// What was wrong, ideally "expected …, got …".
    public var message: String
    /// Who refuses it: `.qemu` (QEMU would), `.launch` (KVM, the SEV firmware, or igvm-mgr
    /// itself would not launch it: every problem of the file's own structure), `.warning`.
    public var level: Problem.Level
    /// For `--json`: the object id (`sev0`, `machine`) for object-model problems, else the
    /// table (`qemu`; `config` for top-level keys).
    public var object: String
    /// For `--json`: the QEMU property or the key within the table; nil for a whole object.
    public var property: String?

    public init(file: String, key: String, message: String, level: Problem.Level = .launch,
                object: String? = nil, property: String? = nil) {
        self.file = file
        self.key = key
        self.message = message
        self.level = level
        if let object {
            self.object = object
            self.property = property
        } else if let dot = key.lastIndex(of: ".") {
            self.object = String(key[..<dot])
            self.property = String(key[key.index(after: dot)...])
        } else {
            self.object = "config"
            self.property = key.isEmpty ? nil : key
        }
    }

    /// Whether this problem makes the definition invalid (warnings do not).
    public var isError: Bool { level.isError }

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
    /// For `.invalid`: the definition as far as it could be read (tables with problems hold
    /// their defaults), so that a later stage can add its own problems to the same report.
    public var partial: VMDefinition?

    public init(kind: Kind, problems: [ConfigProblem], partial: VMDefinition? = nil) {
        self.kind = kind
        self.problems = problems
        self.partial = partial
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
