import Testing
import TestSupport

/// The top-level `igvm-mgr --help`: the first thing a user runs.
@Suite("igvm-mgr --help") struct RootHelpTests {
    @Test("exits 0 and names the tool")
    func helpExitsZeroAndNamesTheTool() throws {
        let result = try IGVMManagerBinary.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("igvm-mgr"))
    }
}
