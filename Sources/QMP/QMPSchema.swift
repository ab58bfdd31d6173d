import JSON

/// The reply of `query-qmp-schema`, indexed by entity name, answering path questions the way
/// libvirt's `virQEMUQAPISchemaPathExists` does (`src/qemu/qemu_qapi.c`).
///
/// A path is `/`-separated. The first component names a command or event; then, for a
/// command, `arg-type` or `ret-type` (events: `arg-type`); then member names of object types.
/// Modifiers on a component:
/// - `name`: a member of the current object type;
/// - `*name`: a member that must be optional;
/// - `+case`: the variant of a union selected by the discriminator value `case`;
/// - `^value`: the current type is an enum that has `value` (ends the path);
/// - `$feature`: the current entity (or member) carries the feature (ends the path);
/// - `!meta`: the current type has this meta-type or builtin JSON type, e.g. `!string` (ends the path).
/// Arrays are entered transparently; an alternate matches if any of its branches does.
///
/// Example: `object-add/arg-type/qom-type/^sev-snp-guest` asks whether `object-add` knows the
/// `sev-snp-guest` type (QEMU's `ObjectType` enum).
public struct QMPSchema: Sendable, Hashable {
    /// Every entity of the schema, by its (possibly masked) name.
    public let entities: [String: JSONObject]

    public init(entries: [JSON]) {
        var map: [String: JSONObject] = [:]
        for entry in entries {
            if let o = entry.objectValue, let name = o["name"]?.stringValue { map[name] = o }
        }
        entities = map
    }

    /// The schema as `query-qmp-schema` returned it (for caching).
    public var json: JSON {
        .array(entities.keys.sorted().map { .object(entities[$0]!) })
    }

    /// Whether the path exists (see the type's documentation for the syntax).
    public func pathExists(_ path: String) -> Bool { entity(at: path) != nil }

    /// The entity (or, for `$`/`^`/`!` queries, the entity the check succeeded on) the path leads to.
    public func entity(at path: String) -> JSONObject? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty else { return nil }
        return traverse(first, parts.dropFirst(), memberFeatures: nil)
    }

    /// Names of the commands the server knows.
    public var commandNames: [String] {
        entities.values.filter { $0["meta-type"]?.stringValue == "command" }.compactMap { $0["name"]?.stringValue }.sorted()
    }

    private func traverse(_ name: String, _ rest: ArraySlice<String>, memberFeatures: [JSON]?) -> JSONObject? {
        guard let entity = entities[name] else { return nil }
        guard let component = rest.first else { return entity }
        let metaType = entity["meta-type"]?.stringValue ?? ""
        // Terminal checks on the current entity.
        if let modifier = component.first, "^$!".contains(modifier) {
            let value = String(component.dropFirst())
            switch modifier {
            case "^":
                guard metaType == "enum" else { return alternateOrArray(entity, metaType, rest, memberFeatures) }
                let values = entity["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let members = entity["members"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                return (values.contains(value) || members.contains(value)) && rest.count == 1 ? entity : nil
            case "$":
                let features = (memberFeatures ?? []) + (entity["features"]?.arrayValue ?? [])
                return features.contains(.string(value)) && rest.count == 1 ? entity : nil
            default:
                let matches = metaType == value || (metaType == "builtin" && entity["json-type"]?.stringValue == value)
                return matches && rest.count == 1 ? entity : nil
            }
        }
        switch metaType {
        case "command", "event":
            guard let type = entity[component]?.stringValue else { return nil }
            return traverse(type, rest.dropFirst(), memberFeatures: nil)
        case "object":
            var key = component
            let modifier = key.first
            if modifier == "+" || modifier == "*" || modifier == " " { key.removeFirst() }
            if modifier == "+" {
                guard let variant = entity["variants"]?.arrayValue?.first(where: { $0["case"]?.stringValue == key }),
                    let type = variant["type"]?.stringValue
                else { return nil }
                return traverse(type, rest.dropFirst(), memberFeatures: nil)
            }
            guard let member = entity["members"]?.arrayValue?.first(where: { $0["name"]?.stringValue == key }),
                let type = member["type"]?.stringValue
            else { return nil }
            if modifier == "*" && member["default"] == nil { return nil }
            return traverse(type, rest.dropFirst(), memberFeatures: member["features"]?.arrayValue)
        default:
            return alternateOrArray(entity, metaType, rest, memberFeatures)
        }
    }

    private func alternateOrArray(
        _ entity: JSONObject, _ metaType: String, _ rest: ArraySlice<String>, _ memberFeatures: [JSON]?
    ) -> JSONObject? {
        switch metaType {
        case "array":
            guard let element = entity["element-type"]?.stringValue else { return nil }
            return traverse(element, rest, memberFeatures: memberFeatures)
        case "alternate":
            for branch in entity["members"]?.arrayValue ?? [] {
                if let type = branch["type"]?.stringValue, let found = traverse(type, rest, memberFeatures: memberFeatures) {
                    return found
                }
            }
            return nil
        default:
            return nil
        }
    }
}
