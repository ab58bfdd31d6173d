@testable import JSON
import Testing

/// The object keeps insertion order and answers lookups the same way whether it is searched
/// linearly (small) or through its key index (past `indexThreshold` keys); these tests walk
/// objects across that threshold in both directions.
@Suite("JSONObject: ordered keys, linear search and index agree")
struct JSONObjectTests {
    static let sizes = [0, 1, JSONObject.indexThreshold, JSONObject.indexThreshold + 1, 40]

    @Test("lookups, replacement in place and order hold at every size", arguments: sizes)
    func lookupsAndOrder(size: Int) {
        var object = JSONObject()
        for i in 0..<size { object["k\(i)"] = .integer(Int64(i)) }
        #expect(object.count == size)
        #expect(object.keys == (0..<size).map { "k\($0)" })
        for i in 0..<size { #expect(object["k\(i)"] == .integer(Int64(i))) }
        #expect(object["absent"] == nil)

        // Replacing keeps the key where it was.
        if size > 0 {
            object["k0"] = .string("first")
            #expect(object.keys.first == "k0")
            #expect(object["k0"] == .string("first"))
            #expect(object.count == size)
        }
    }

    @Test("removing keys across the threshold keeps later lookups right")
    func removalAcrossThreshold() {
        var object = JSONObject()
        let size = JSONObject.indexThreshold + 5
        for i in 0..<size { object["k\(i)"] = .integer(Int64(i)) }
        // Remove from the front so every later position shifts; lookups must follow.
        for removed in 0..<size {
            object["k\(removed)"] = nil
            #expect(object.count == size - removed - 1)
            for i in (removed + 1)..<size { #expect(object["k\(i)"] == .integer(Int64(i))) }
            #expect(object["k\(removed)"] == nil)
        }
        #expect(object.isEmpty)
        // And it grows again past the threshold from empty.
        for i in 0..<size { object["n\(i)"] = .bool(true) }
        #expect(object["n\(size - 1)"] == .bool(true))
        #expect(object.keys.count == size)
    }

    @Test("equality and hashing are order-sensitive")
    func orderSensitiveEquality() {
        let ab: JSONObject = ["a": 1, "b": 2]
        let ba: JSONObject = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab == ["a": 1, "b": 2])
        #expect(Set([JSON.object(ab), .object(ab)]).count == 1)
    }

    @Test("a decoded large object keeps the document's key order and finds every key")
    func decodedLargeObject() throws {
        let keys = (0..<50).map { "key-\(49 - $0)" }
        let text = "{" + keys.enumerated().map { "\"\($1)\":\($0)" }.joined(separator: ",") + "}"
        let value = try JSON.decode(text)
        guard case .object(let object) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(object.keys == keys)
        for (i, key) in keys.enumerated() { #expect(object[key] == .integer(Int64(i))) }
        #expect(try value.encoded() == text)
    }
}
