import Definition
import JSON
import ObjectModel

/// Turns the property keys of a `[confidential]` or `[memory-backend]` table into a typed
/// object of the object model, reporting problems under the config key that caused them.
///
/// The object model owns every property's name, type and checks; this only maps TOML's types
/// onto QMP's JSON ones (strings, integers, booleans) and applies the two config-file rules
/// the model cannot know: 64-bit values are written as hex strings, and paths are relative to
/// the config file.
enum ObjectProperties {
    /// Properties whose value is a host path, resolved against the config file's folder.
    static let pathProperties: Set<String> = ["sev-device", "dh-cert-file", "session-file", "mem-path"]

    /// Builds `qomType` object `id` from `properties`; `table` is the config table for messages
    /// (`confidential`), `extra` are properties the plan sets itself (a backend's `size`).
    static func object(
        qomType: String, id: String, properties: [(key: String, value: TOMLNode)], extra: [(String, JSON)] = [],
        table: String, file: String, resolve: (String) -> String
    ) -> (QOMObject?, [ConfigProblem]) {
        var problems: [ConfigProblem] = []
        let hexKeys = QOMObject.types.first { $0.qomType == qomType }?.hexProperties ?? []
        var inputs: [(String, PropertyInput)] = [("qom-type", .json(.string(qomType))), ("id", .json(.string(id)))]
        for (key, node) in properties {
            let configKey = "\(table).\(key)"
            if hexKeys.contains(key) {
                // TOML integers are int64 and a policy is read as bits: always a hex string.
                guard case .string(let s) = node, let v = HexNumber.parse(s) else {
                    let detail = if case .string = node { " (0x and 1 to 16 hex digits)" } else { "" }
                    problems.append(ConfigProblem(file: file, key: configKey,
                        message: "expected a hex string like \"0x30000\"\(detail), got \(node.described)"))
                    continue
                }
                inputs.append((key, .json(JSON(v))))
                continue
            }
            switch node {
            case .string(let s): inputs.append((key, .json(.string(pathProperties.contains(key) && !s.isEmpty ? resolve(s) : s))))
            case .integer(let i): inputs.append((key, .json(.integer(i))))
            case .bool(let b): inputs.append((key, .json(.bool(b))))
            default:
                problems.append(ConfigProblem(file: file, key: configKey,
                    message: "expected a string, an integer or a boolean (a \(qomType) property), got \(node.described)"))
            }
        }
        inputs += extra.map { ($0.0, PropertyInput.json($0.1)) }
        let (object, readProblems) = QOMObject.read(inputs)
        for p in readProblems {
            let key = p.property.map { "\(table).\($0)" } ?? table
            problems.append(ConfigProblem(file: file, key: key, message: p.message, level: p.level,
                                          object: p.object, property: p.property))
        }
        return (object, problems)
    }
}
