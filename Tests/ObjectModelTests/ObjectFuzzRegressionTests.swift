import Foundation
import ObjectModel
import Testing
import TestSupport

/// Inputs the `-object` fuzzer found (kept in fuzz/seeds/object/), fed through the public API.
@Suite struct ObjectFuzzRegressionTests {
    static let seeds = TestPaths.packageRoot.appendingPathComponent("fuzz/seeds/object")

    /// An id holding a carriage return is refused, and the problem naming it stays one line.
    @Test func idWithACarriageReturnGivesOneLineProblems() throws {
        let bytes = try Data(contentsOf: Self.seeds.appendingPathComponent("crash-id-with-cr"))
        let spec = String(decoding: bytes, as: UTF8.self)
        let problems = ObjectSpec.validate(spec)
        #expect(!problems.isEmpty)
        let multiLine = problems.map(\.description).filter { $0.contains(where: \.isNewline) }
        #expect(multiLine.isEmpty)
        #expect(problems.map(\.description).contains("\0\0\0 p.id: '\0\0\0 p' is not a valid QEMU id (a letter first, then letters, digits, '-', '.', '_')"))
    }
}
