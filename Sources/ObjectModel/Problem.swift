import JSON

/// One thing wrong with an object, in one line: `sev0.id-block: decodes to 95 bytes, must be 96`.
public struct Problem: Sendable, Hashable, CustomStringConvertible {
    /// Who would refuse the configuration, and when.
    public enum Level: String, Sendable, Hashable, CaseIterable, Comparable {
        /// QEMU 10.2.2 itself rejects it (`object-add`, `-object`, machine init).
        case qemu
        /// QEMU accepts it, but KVM or the SEV(-SNP) firmware rejects it at launch.
        case launch
        /// Accepted everywhere, but probably not what was meant.
        case warning

        public static func < (lhs: Level, rhs: Level) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }

        /// Whether a problem of this level makes the configuration invalid.
        public var isError: Bool { self != .warning }
    }

    public var level: Level
    /// The object's id (or `machine`, or the device driver when the device has no id).
    public var object: String
    /// The QEMU property name, or nil when the problem is about the object as a whole.
    public var property: String?
    /// What is wrong, one line, no trailing period.
    public var message: String

    public init(_ level: Level, object: String, property: String?, _ message: String) {
        self.level = level
        self.object = object
        self.property = property
        // One line, always: a value quoted in a message may hold a newline.
        self.message = message.replacingNewlines()
    }

    /// `object.property: message` (or `object: message`), one line: the object id and property
    /// come from the input as given (an id of `"a\rb"` is read before it is found invalid), so
    /// their newlines are replaced here; `object` and `property` keep them for `--json`.
    public var description: String {
        if let property { return "\(object.replacingNewlines()).\(property.replacingNewlines()): \(message)" }
        return "\(object.replacingNewlines()): \(message)"
    }
}

extension Problem {
    /// `{"level", "object", "property", "message"}` (property null when about the whole object),
    /// the shape `igvm-mgr validate --json` prints.
    public var jsonValue: JSON {
        [
            "level": .string(level.rawValue), "object": .string(object),
            "property": property.map { JSON.string($0) } ?? .null, "message": .string(message),
        ]
    }
}

extension Array where Element == Problem {
    /// True when no problem is an error (warnings allowed).
    public var isValid: Bool { !contains { $0.level.isError } }
}

extension String {
    func replacingNewlines() -> String {
        // Fast path on the bytes: every newline Character (LF, VT, FF, CR, NEL U+0085, LS U+2028,
        // PS U+2029) holds one of these bytes. Looking at Characters needs grapheme breaking,
        // which was a third of the -object fuzzer's time (perf), as every problem goes through here.
        guard utf8.contains(where: { ($0 >= 0x0A && $0 <= 0x0D) || $0 == 0xC2 || $0 == 0xE2 }),
              contains(where: \.isNewline) else { return self }
        return String(map { $0.isNewline ? " " : $0 })
    }
}
