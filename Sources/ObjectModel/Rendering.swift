import JSON
import Numerals

/// The two command-line spellings QEMU accepts for `-object` and `-device`.
public enum CommandLineForm: String, Sendable, Hashable, CaseIterable {
    /// `{"qom-type":"sev-snp-guest","id":"sev0",…}`: no escaping rules to get wrong, immune to
    /// comma injection. The default.
    case json
    /// `sev-snp-guest,id=sev0,…` with QEMU's `,,` escaping.
    case keyValue
}

/// Why an `-object`, `-machine` or `-device` string (or QMP arguments) could not be read: every
/// problem found, all `.qemu` level.
public struct ObjectSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [Problem]
    public init(problems: [Problem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "; ") }
}

enum PropertyText {
    /// The key=value text of a typed JSON property value.
    static func text(_ value: JSON, hex: Bool) -> String {
        switch value {
        case .string(let s): return s
        case .bool(let b): return b ? "on" : "off"
        case .integer(let i): return hex && i >= 0 ? Numerals.hex(i, uppercase: false) : String(i)
        case .unsigned(let u): return hex ? Numerals.hex(u, uppercase: false) : String(u)
        default: return value.description
        }
    }

    static func pairs(_ properties: JSONObject, hex: Set<String>) -> [(String, String)] {
        properties.pairs.map { ($0.key, text($0.value, hex: hex.contains($0.key))) }
    }

    static func json(_ object: JSONObject) -> String {
        // Encoding a JSON value built from Swift strings and integers cannot fail.
        (try? JSON.object(object).encoded()) ?? "{}"
    }
}

extension QOMObject {
    /// The arguments of QMP `object-add`: `{"qom-type", "id", properties…}`, typed.
    public func objectAddArguments() -> JSONObject {
        var args: JSONObject = ["qom-type": .string(qomType), "id": .string(id)]
        for (k, v) in properties.pairs { args[k] = v }
        return args
    }

    /// The value of a `-object` argument, JSON (default) or key=value.
    public func commandLineArgument(form: CommandLineForm = .json) -> String {
        switch form {
        case .json:
            return PropertyText.json(objectAddArguments())
        case .keyValue:
            let hex = type(of: object).hexProperties
            return KeyValueSyntax.render(implied: ("qom-type", qomType),
                                         [("id", id)] + PropertyText.pairs(properties, hex: hex))
        }
    }

    /// Reads QMP `object-add` arguments (or the JSON form of `-object`).
    public init(objectAddArguments args: JSONObject) throws(ObjectSpecError) {
        self = try Self.require(Self.read(args.pairs.map { ($0.key, PropertyInput.json($0.value)) }))
    }

    /// Reads the value of a `-object` argument in either form (JSON when it starts with `{`,
    /// as QEMU decides).
    public init(commandLine spec: String) throws(ObjectSpecError) {
        self = try Self.require(Self.read(commandLine: spec))
    }

    static func require(_ read: (QOMObject?, [Problem])) throws(ObjectSpecError) -> QOMObject {
        guard let object = read.0, read.1.isValid else { throw ObjectSpecError(problems: read.1.filter(\.level.isError)) }
        return object
    }

    /// Reads an object from its properties (`qom-type`, `id` and the rest) as QEMU's QAPI visitor
    /// would, reporting every problem. The object is nil only when the type or the id cannot be
    /// read; otherwise it holds every property that could be read.
    public static func read(_ properties: [(String, PropertyInput)]) -> (QOMObject?, [Problem]) {
        var inputs = properties
        func takeString(_ key: String) -> (String?, Problem?) {
            guard let i = inputs.lastIndex(where: { $0.0 == key }) else {
                return (nil, Problem(.qemu, object: "object", property: key, "missing"))
            }
            let value = inputs[i].1
            inputs.removeAll { $0.0 == key }
            switch value {
            case .text(let s), .json(.string(let s)): return (s, nil)
            case .json(let j): return (nil, Problem(.qemu, object: "object", property: key, "expected a string, got \(j.kindDescription)"))
            }
        }
        let (type, typeProblem) = takeString("qom-type")
        let (id, idProblem) = takeString("id")
        let problems = [typeProblem, idProblem].compactMap { $0 }
        guard problems.isEmpty, let type, let id else { return (nil, problems) }
        guard let model = QOMObject.types.first(where: { $0.qomType == type }) else {
            let known = QOMObject.types.map { $0.qomType }.joined(separator: ", ")
            return (nil, [Problem(.qemu, object: id, property: "qom-type",
                "'\(type)' is not a type igvm-mgr models (\(known))")])
        }
        var reader = PropertyReader(object: id, properties: inputs)
        let object = model.init(id: id, reading: &reader)
        return (QOMObject(object), reader.finish(type: type, unmodelled: model.unmodelledProperties))
    }

    /// Reads a `-object` value in either form, reporting every problem (see `read(_:)`).
    /// A deprecated short-form boolean (`flag`, `noflag`) is read as QEMU 10 does, with a warning.
    public static func read(commandLine spec: String) -> (QOMObject?, [Problem]) {
        let inputs: [(String, PropertyInput)]
        do {
            inputs = try CommandLineSpec.inputs(spec, impliedKey: "qom-type", allowShortFormBooleans: true, object: "object")
        } catch {
            return (nil, error.problems)
        }
        let (object, problems) = read(inputs)
        let shortForms = spec.utf8.first == UInt8(ascii: "{") ? [] :
            ((try? KeyValueSyntax.parse(spec, impliedKey: "qom-type", allowShortFormBooleans: true)) ?? []).filter(\.shortFormBoolean)
        let warnings = shortForms.map {
            Problem(.warning, object: object?.id ?? "object", property: $0.key,
                    "short-form boolean '\($0.value == "on" ? "" : "no")\($0.key)' is deprecated in QEMU; write \($0.key)=\($0.value)")
        }
        return (object, problems + warnings)
    }
}

/// The property inputs of a command-line option value: JSON when it starts with `{` (QEMU looks
/// at the first byte), else key=value.
enum CommandLineSpec {
    static func inputs(_ spec: String, impliedKey: String, allowShortFormBooleans: Bool, object: String) throws(ObjectSpecError) -> [(String, PropertyInput)] {
        if spec.utf8.first == UInt8(ascii: "{") {
            let json: JSON
            do { json = try JSON.decode(spec) } catch {
                throw ObjectSpecError(problems: [Problem(.qemu, object: object, property: nil, "invalid JSON: \(error)")])
            }
            guard let dict = json.objectValue else {
                throw ObjectSpecError(problems: [Problem(.qemu, object: object, property: nil, "the JSON form must be an object, got \(json.kindDescription)")])
            }
            return dict.pairs.map { ($0.key, PropertyInput.json($0.value)) }
        }
        do {
            return try KeyValueSyntax.parse(spec, impliedKey: impliedKey, allowShortFormBooleans: allowShortFormBooleans)
                .map { ($0.key, PropertyInput.text($0.value)) }
        } catch {
            throw ObjectSpecError(problems: [Problem(.qemu, object: object, property: nil, error.message)])
        }
    }
}

/// One `-object` string on its own: what `igvm-mgr object validate SPEC` needs.
public enum ObjectSpec {
    /// Parses an `-object` value in either form.
    public static func parse(_ spec: String) throws(ObjectSpecError) -> QOMObject {
        try QOMObject(commandLine: spec)
    }

    /// Parses and validates an `-object` value alone: the parse problems if it cannot be read,
    /// else the object's own problems (id, QEMU's setters, launch rules, warnings).
    public static func validate(_ spec: String, facts: FirmwareFacts = FirmwareFacts()) -> [Problem] {
        let (object, readProblems) = QOMObject.read(commandLine: spec)
        guard let object else { return readProblems }
        // A property QEMU could not read is unset in `object`; don't also call it "missing".
        let unreadable = Set(readProblems.filter(\.level.isError).compactMap(\.property))
        let rest = object.validate(facts: facts).filter { !unreadable.contains($0.property ?? "") }
        return readProblems + rest
    }
}
