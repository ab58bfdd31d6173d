import JSON
import Testing

@Suite("JSON codec on libjansson")
struct JSONCodecTests {
    @Test(
        "integers at the edges of int64 and uint64 round-trip exactly",
        arguments: [
            "18446744073709551615", "9223372036854775808", "9223372036854775807",
            "-9223372036854775808", "0", "-1", "12345678901234567890",
        ])
    func integerEdges(_ literal: String) throws {
        let value = try JSON.decode(literal)
        #expect(try value.encoded() == literal)
        // Nested, among other integers, so the ordinal bookkeeping is exercised too.
        let doc = "{\"a\":[1,\(literal),-3],\"b\":\(literal),\"c\":{\"d\":2}}"
        #expect(try JSON.decode(doc).encoded() == doc)
    }

    @Test func uint64MaxIsUnsigned() throws {
        #expect(try JSON.decode("18446744073709551615") == .unsigned(UInt64.max))
        #expect(try JSON.decode("9223372036854775807") == .integer(Int64.max))
        #expect(try JSON.decode("-9223372036854775808") == .integer(Int64.min))
        #expect(JSON(UInt64(5)) == .integer(5))
        #expect(try JSON(UInt64.max).encoded() == "18446744073709551615")
        #expect(try JSON.decode("[18446744073709551615]")[0]?.uint64Value == UInt64.max)
    }

    @Test func integersBeyondUInt64AreRejected() {
        #expect(throws: JSONDecodingError.self) { try JSON.decode("18446744073709551616") }
        #expect(throws: JSONDecodingError.self) { try JSON.decode("-9223372036854775809") }
    }

    @Test func bigIntegerLookalikesInsideStringsAreUntouched() throws {
        let doc = #"{"s":"18446744073709551615","n":18446744073709551615,"e":"\"1844674407370955161599"}"#
        let value = try JSON.decode(doc)
        #expect(value["s"] == .string("18446744073709551615"))
        #expect(value["n"] == .unsigned(UInt64.max))
        #expect(value["e"] == .string("\"1844674407370955161599"))
        #expect(try value.encoded() == doc)
    }

    @Test func keyOrderSurvives() throws {
        let doc = #"{"z":1,"a":2,"m":{"y":true,"b":null},"c":[3,{"q":1,"p":2}]}"#
        let value = try JSON.decode(doc)
        #expect(value.objectValue?.keys == ["z", "a", "m", "c"])
        #expect(try value.encoded() == doc)
    }

    @Test func nonASCIIAndEscapedNULSurvive() throws {
        let doc = #"{"kéy":"caf\u00e9 \u0000 ✓ 𝄞"}"#
        let value = try JSON.decode(doc)
        let string = try #require(value.objectValue?.pairs.first?.value.stringValue)
        #expect(string == "café \u{0} ✓ 𝄞")
        #expect(value.objectValue?.keys == ["kéy"])
        // jansson 2.14 cannot hold a NUL inside an object key: a clear error, not a truncation.
        #expect(throws: JSONDecodingError.self) { try JSON.decode(#"{"k\u0000":1}"#) }
        #expect(try JSON.decode(value.encoded()) == value)
        #expect(try value.encoded().contains("café"))
    }

    @Test(
        "malformed input names line and column",
        arguments: [
            ("{\n  \"a\": 1,\n  \"b\": ]\n}", 3, 8),
            ("[1, 2", 1, 5),
            ("{\"a\":1,\"a\":2}", 1, 10),
        ])
    func malformed(_ text: String, _ line: Int, _ column: Int) {
        do {
            _ = try JSON.decode(text)
            Issue.record("decoded malformed JSON \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.column == column)
            #expect(error.description.contains("line \(line), column \(column)"))
        }
    }

    @Test func errorColumnsAfterABigIntegerAreExact() {
        // The big literal is blanked in place, so positions after it are unchanged.
        do {
            _ = try JSON.decode("[18446744073709551615, x]")
            Issue.record("accepted x")
        } catch {
            #expect(error.column == 24)
        }
    }

    @Test func tenMebibyteDocumentDecodes() throws {
        var items: [JSON] = []
        let entry: JSON = ["name": "sev-snp-guest", "value": .unsigned(UInt64.max), "n": 123456789]
        let one = try entry.encoded()
        let count = (10 << 20) / one.utf8.count + 1
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(entry) }
        let text = try JSON.array(items).encoded()
        #expect(text.utf8.count >= 10 << 20)
        let decoded = try JSON.decode(text)
        #expect(decoded.arrayValue?.count == count)
        #expect(decoded[count - 1]?["value"] == .unsigned(UInt64.max))
    }

    @Test func doublesRoundTripAndNonFiniteIsAnError() throws {
        for d in [0.1, 1e300, -2.5, 5e-324] {
            #expect(try JSON.decode(JSON.double(d).encoded()) == .double(d))
        }
        #expect(throws: JSONEncodingError.self) { try JSON.double(.nan).encoded() }
        #expect(throws: JSONEncodingError.self) { try JSON.array([.double(.infinity)]).encoded() }
    }

    @Test func prettyOutputIsIndented() throws {
        let value: JSON = ["a": [1, 2], "b": "x"]
        #expect(try value.encoded(pretty: true) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"x\"\n}")
    }
}
