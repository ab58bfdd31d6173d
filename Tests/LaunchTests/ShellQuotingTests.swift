import Foundation
import Testing
import TestSupport
@testable import Launch

@Suite struct ShellQuotingTests {
    static let awkwardWords = [
        "plain", "", " ", "a b", "it's", "'", "''", #"""#, "$HOME", "`id`", "$(id)", #"back\slash"#,
        "new\nline", "tab\there", "*", "?", "[a]", "~", "~root", "#comment", "a#b", "!", "a;b", "a&b", "a|b",
        "<", ">", "(x)", "{a,b}", "x=1", "-machine", "q35,igvm-cfg=igvm0", #"{"qom-type":"sev-guest"}"#,
        "é✓", "%", "@", "+", "^",
    ]

    /// The quoted line, run by /bin/sh, gives back exactly the same words.
    @Test func posixShellReadsBackTheSameWords() throws {
        let line = ShellQuoting.line(Self.awkwardWords)
        let result = try TestProcess.run("/bin/sh", ["-c", "printf '%s\\0' " + line])
        #expect(result.status == 0, "\(result.stderr)")
        var words = result.stdout.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        #expect(words.last == "")
        words.removeLast()
        #expect(words == Self.awkwardWords)
    }

    @Test(arguments: [("plain", "plain"), ("q35,igvm-cfg=igvm0", "q35,igvm-cfg=igvm0"), ("", "''"),
                      ("a b", "'a b'"), ("it's", #"'it'\''s'"#), ("~", "'~'")])
    func quoting(word: String, quoted: String) {
        #expect(ShellQuoting.quote(word) == quoted)
    }
}
