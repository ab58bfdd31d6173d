import Testing
import TestSupport

@Suite struct CLISmokeTests {
    @Test func helpListsTheTool() throws {
        let result = try IGVMManagerBinary.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("igvm-mgr"))
    }
}
