import Foundation
import Testing
import TestSupport
@testable import Launch

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
        #expect(TOMLHeaderScan.firstBadHeader(text) == nil)
    }
}
