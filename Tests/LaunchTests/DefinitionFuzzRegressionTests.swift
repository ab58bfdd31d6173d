import Foundation
import Testing
import TestSupport
@testable import Definition

/// Inputs the definition fuzzer found (kept in fuzz/seeds/definition/), fed through the public
/// entry point: each must come back as one clear error line, not abort the process.
@Suite struct DefinitionFuzzRegressionTests {
    static let seeds = TestPaths.packageRoot.appendingPathComponent("fuzz/seeds/definition")

    /// The one-line problems `parse(bytes:file:)` reports for `bytes`, or [] when it loads.
    func problems(_ bytes: some Collection<UInt8>) -> [String] {
        do {
            _ = try VMDefinition.parse(bytes: bytes, file: "x.toml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func tableHeaderKeyStartingWithAControlCharacterIsAnErrorNotAnAbort() throws {
        let bytes = try Data(contentsOf: Self.seeds.appendingPathComponent("crash-9f781e8cf0551ab2603ea1778a44f2abc9b2bee2"))
        #expect(problems(bytes) == [
            "x.toml: not valid TOML at line 4, column 2: a table header's key must start with a letter, digit, '-', '_' or a quote, saw U+0004"
        ])
    }

    /// Every way a header's first key character can be wrong reaches the same check (toml++
    /// asserts on all of them).
    @Test(arguments: [
        ("[!a]", 1, 2, "'!'"), ("[ .a]", 1, 3, "'.'"), ("[=]", 1, 2, "'='"), ("[é]", 1, 2, "U+00E9"),
        ("[[!a]]", 1, 3, "'!'"), ("[[ [a]]]", 1, 4, "'['"), ("x = 1\n  [\t#a]", 2, 5, "'#'"), ("[\n", 1, 2, "U+000A"),
    ])
    func badHeaderKeyStart(text: String, line: Int, column: Int, found: String) {
        #expect(problems(Array(text.utf8)) == [
            "x.toml: not valid TOML at line \(line), column \(column): a table header's key must start with a letter, digit, '-', '_' or a quote, saw \(found)"
        ])
    }

    /// Brackets inside strings, comments and multi-line arrays are not headers: valid documents
    /// still load.
    @Test(arguments: [
        "[qemu]\nmachine = \"q35\" # [!x]\n",
        "[ \"qemu\" ]\nmachine = '[!'\n",
        "[qemu]\nmachine = \"\"\"\n[!x]\n\"\"\"\"\"\n",
        "[qemu]\nmachine = '''\n[!x]'''\n",
        "[confidential]\ntype = \"nocc\"\nx = [\n  [1],\n  [\"]\"],\n]\n",
        "[kernel]\nkernel = \"/k\"\nappend = \"\"\"a \\\n  [!b]\"\"\"\n",
    ])
    func bracketsOutsideHeadersAreNotChecked(text: String) {
        #expect(TOMLPreflight.firstFinding(text) == nil)
    }

    @Test func dateTimeTheTypeGuessMisreadsIsAnErrorNotAnAbort() throws {
        let bytes = try Data(contentsOf: Self.seeds.appendingPathComponent("crash-547cc38cfe33f89644f8fb2fc135937856d74eb4"))
        #expect(problems(bytes) == [
            #"x.toml: not valid TOML at line 2, column 31: "1979-05-27T?07:32:00\"\"" is not a TOML value (a string, number, boolean, date or time)"#
        ])
    }

    /// Every bare value of TOML 1.0 passes the preflight, in every place a value stands.
    @Test(arguments: [
        "true", "false", "0", "+17", "-0", "1_000", "0xDEAD_beef", "0o755", "0b1101", "3.1415", "-0.01", "5e+22",
        "1e06", "-2E-2", "6.626e-34", "224_617.445_991", "inf", "+inf", "-nan", "1979-05-27T07:32:00Z",
        "1979-05-27T00:32:00.999999-07:00", "1979-05-27 07:32:00+01:00", "1979-05-27t07:32:00", "1979-05-27",
        "07:32:00", "00:32:00.5",
    ])
    func validScalarsPass(value: String) {
        for text in ["x = \(value)\n", "x = [\(value), \(value),]\n", "x = { a = \(value), b = [\(value)] } # c\n", "x = \(value)"] {
            #expect(TOMLPreflight.firstFinding(text) == nil, "\(text)")
        }
    }

    @Test(arguments: ["1x", "01", "0x", "+0x1", "1_", "1__0", "1.", ".5", "1e", "-", "tru", "+inx", "1979-05-2",
                      "1979-05-27T?07", "1979-05-27T07:32", "07:32", "1979-05-27T07:32:00+", "1979-05-27T07:32:00.Z"])
    func invalidScalarsAreFound(value: String) {
        #expect(TOMLPreflight.firstFinding("x = \(value)\n")?.message.hasSuffix("is not a TOML value (a string, number, boolean, date or time)") == true)
    }

    @Test func junkAfterAValueIsFound() {
        #expect(TOMLPreflight.firstFinding("x = 1 2\n")?.message == "expected a comma, a closing bracket, a comment or a new line after a value, saw '2'")
        #expect(TOMLPreflight.firstFinding("x = \"a\"b\n")?.column == 8)
    }
}
