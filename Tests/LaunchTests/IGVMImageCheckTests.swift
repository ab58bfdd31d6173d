import Foundation
import IGVM
import Testing
import TestSupport
@testable import Definition
@testable import Launch
@testable import VMState
@testable import Supervisor
@testable import FirmwareUpdate

/// A guest-supplied IGVM image is checked with the IGVM module before anything is stored.
@Suite struct IGVMImageCheckTests {
    static let snp = IGVMImageCheck(platform: .sevSNP, qemuVersion: QEMUVersion(major: 10, minor: 2, micro: 2))

    /// A small IGVM file for `platform`: its platform header, guest policy and one zero page.
    static func igvm(_ platform: IGVMPlatformType) -> [UInt8] {
        var writer = IGVMWriter()
        writer.platforms = [IGVMSupportedPlatform(compatibilityMask: 1, platformType: platform)]
        writer.initializations = [.guestPolicy(policy: 0x30000, compatibilityMask: 1)]
        writer.add(.pageData(IGVMPageData(gpa: 0x1000, compatibilityMask: 1)))
        writer.trailingData = [UInt8](repeating: 0xAA, count: 8)
        return writer.serialize()
    }

    static func payload(_ image: [UInt8]) -> FirmwareUpdatePayload {
        FirmwareUpdatePayload(format: .igvm, image: image, opaque: nil)
    }

    @Test func aWellFormedSNPFileIsAccepted() {
        #expect(Self.snp.problem(with: Self.payload(Self.igvm(.sevSNP))) == nil)
    }

    @Test func bytesThatAreNoIGVMFileAreRejected() {
        let reason = Self.snp.problem(with: Self.payload([UInt8](repeating: 0, count: 0x10000)))
        #expect(reason?.hasPrefix("the image is not a well-formed IGVM file: ") == true, "\(reason ?? "accepted")")
    }

    /// What private SNP memory reads as (ciphertext: no IGVM structure) is rejected with the
    /// confidential payload rule; a native guest's reason does not mention it.
    @Test func anUnparsableConfidentialPayloadNamesTheSharedMemoryRule() {
        let garbage = (0..<0x10000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
        let reason = Self.snp.problem(with: Self.payload(garbage))
        #expect(reason?.hasSuffix(IGVMImageCheck.sharedMemoryRule) == true, "\(reason ?? "accepted")")
        let native = IGVMImageCheck(platform: .native, qemuVersion: QEMUVersion(major: 10, minor: 2, micro: 2))
        let nativeReason = native.problem(with: Self.payload(garbage))
        #expect(nativeReason != nil && nativeReason?.contains(IGVMImageCheck.sharedMemoryRule) == false, "\(nativeReason ?? "accepted")")
    }

    @Test func aFileForAnotherPlatformIsRejected() {
        let native = IGVMImageCheck(platform: .native, qemuVersion: QEMUVersion(major: 10, minor: 2, micro: 2))
        let reason = native.problem(with: Self.payload(Self.igvm(.sevSNP)))
        #expect(reason?.hasPrefix("the IGVM image cannot run as native on QEMU 10.2.2") == true, "\(reason ?? "accepted")")
    }

    @Test func platformROMsAreNotItsBusiness() {
        #expect(Self.snp.problem(with: FirmwareUpdatePayload(format: .platformROM, image: [0], opaque: nil)) == nil)
    }

    /// The setup of the example SNP/IGVM config offers IGVM (it names QEMU 10.2.2) and rejects
    /// a request whose image is not IGVM, through the flow.
    @Test func theSNPIGVMExampleOffersAndChecksIGVM() throws {
        let directory = try TestPaths.makeTemporaryDirectory("igvm-setup")
        let definition = try VMDefinition.load(path: ExampleConfigs.path("snp-igvm"))
        let paths = VMPaths(folder: directory.path + "/snp-igvm")
        var d = definition
        d.vmfwupdate.mailbox = 0x9000
        let setup = try #require(try VMFWUpdateSetup(definition: d, name: nil, vmFolder: paths.folder))
        #expect(setup.offer.formats == [.igvm])
        #expect(setup.imageCheck?.platform == .sevSNP)
        var flow = setup.makeFlow()
        #expect(!flow.canResetInPlace)
        _ = try flow.handle(.guestReset)
        let request = VMFWUpdateMailbox(control: [.formatIGVM], imageAddress: 0x100000, imageSize: 0x2000)
        _ = try flow.handle(.mailboxRead(.mailbox(request)))
        let steps = try flow.handle(.payloadRead(Self.payload([UInt8](repeating: 0x55, count: 0x2000))))
        guard case .log(.requestRejected(let reason)) = steps.first else {
            Issue.record("not rejected: \(steps)")
            return
        }
        #expect(reason.contains("not a well-formed IGVM file"))
        #expect(steps.last == .quitInstance)  // back to the provider's IGVM in a new instance
    }
}
