/// A JSON object that keeps its keys in insertion order.
///
/// Key order matters to people reading QMP traffic and QEMU's JSON `-object` syntax,
/// and a round trip (decode, encode) must give the same text back. Equality is
/// therefore order-sensitive. Keys are unique: setting an existing key replaces its
/// value in place.
///
/// Storage: the pairs in order, searched linearly while the object is small (every QMP reply,
/// command and event is: a handful of keys), plus a key → position index built once an object
/// grows past `indexThreshold` keys (`query-qmp-schema` entries, large `-object` maps). A hash
/// table per small object cost more than the whole jansson parse of a QMP reply.
public struct JSONObject: Sendable, Hashable {
    private var storage: [(key: String, value: JSON)] = []
    private var index: [String: Int]?

    static let indexThreshold = 12

    public init() {}

    public init(_ pairs: some Sequence<(String, JSON)>) {
        for (k, v) in pairs { self[k] = v }
    }

    /// Room for `capacity` keys without reallocating.
    public init(minimumCapacity capacity: Int) {
        storage.reserveCapacity(capacity)
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    public var keys: [String] { storage.map(\.key) }

    public subscript(key: String) -> JSON? {
        get { position(of: key).map { storage[$0].value } }
        set {
            if let newValue {
                if let i = position(of: key) {
                    storage[i].value = newValue
                } else {
                    appendNew(key, newValue)
                }
            } else if let i = position(of: key) {
                storage.remove(at: i)
                if index != nil { rebuildIndex() }
            }
        }
    }


    /// The pairs in insertion order.
    public var pairs: [(key: String, value: JSON)] { storage }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return storage.firstIndex { $0.key == key }
    }

    /// Adds a key the caller knows is not present yet (the subscript after its lookup; the
    /// decoder, since jansson already rejected duplicates): no lookup here.
    mutating func appendNew(_ key: String, _ value: JSON) {
        storage.append((key, value))
        if index != nil {
            index![key] = storage.count - 1
        } else if storage.count > Self.indexThreshold {
            rebuildIndex()
        }
    }

    private mutating func rebuildIndex() {
        guard storage.count > Self.indexThreshold else {
            index = nil
            return
        }
        var built = [String: Int](minimumCapacity: storage.count)
        for (i, pair) in storage.enumerated() { built[pair.key] = i }
        index = built
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.storage.count == rhs.storage.count
            && zip(lhs.storage, rhs.storage).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.count)
        for (key, value) in storage {
            hasher.combine(key)
            hasher.combine(value)
        }
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSON)]> {
        storage.makeIterator()
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSON)...) { self.init(elements) }
}
