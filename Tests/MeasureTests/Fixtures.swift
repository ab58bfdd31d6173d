import Foundation
import TestSupport

/// The test fixtures of sev-snp-measure and virtee/sev, copied into `Tests/Fixtures/` (each
/// folder's README names the upstream source, commit and licence).
enum Fixtures {
    static let sevSNPMeasure = TestPaths.fixtures.appendingPathComponent("sev-snp-measure")
    static let virteeSEV = TestPaths.fixtures.appendingPathComponent("virtee-sev")

    static var amdSevOVMF: String { sevSNPMeasure.appendingPathComponent("ovmf_AmdSev_suffix.bin").path }
    static var ovmfX64: String { sevSNPMeasure.appendingPathComponent("ovmf_OvmfX64_suffix.bin").path }

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }
    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }
}
