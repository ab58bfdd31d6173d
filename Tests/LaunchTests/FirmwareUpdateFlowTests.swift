import Foundation
import Testing
@testable import Definition
@testable import Launch
@testable import Supervisor
@testable import FirmwareUpdate

@Suite struct FirmwareUpdateFlowTests {
    static let validator = FirmwareUpdateRequestValidator(
        offer: VMFWUpdateOffer(formats: [.platformROM], firmwareROMSize: 0x10000),
        memory: try! GuestMemoryMap(machine: "q35", ramSize: 128 << 20))
    static let request = FirmwareUpdateRequest(
        format: .platformROM, image: GuestPhysicalRange(start: 0x10000, length: 0x10000)!,
        opaque: GuestPhysicalRange(start: 0x8000, length: 4)!)
    static let mailbox = VMFWUpdateMailbox.Contents.mailbox(VMFWUpdateMailbox(
        control: [.formatPlatformROM], imageAddress: 0x10000, imageSize: 0x10000, opaqueAddress: 0x8000, opaqueSize: 4))
    static let payload = FirmwareUpdatePayload(format: .platformROM, image: [UInt8](repeating: 0, count: 0x10000), opaque: [1, 2, 3, 4])
    static let stored = StoredFirmware(format: .platformROM, imagePath: "/state/fw/x.rom", imageSHA256: "ab", imageSize: 0x10000,
                                       opaquePath: "/state/fw/y.opaque", opaqueSHA256: "cd")

    static func flow(canResetInPlace: Bool = true, enabled: Bool = true) -> FirmwareUpdateFlow {
        FirmwareUpdateFlow(canResetInPlace: canResetInPlace, interfaceEnabled: enabled, validator: validator)
    }

    /// The action steps only (the log steps are checked separately).
    static func actions(_ steps: [FirmwareUpdateFlow.Step]) -> [FirmwareUpdateFlow.Step] {
        steps.filter { if case .log = $0 { false } else { true } }
    }

    static func events(_ steps: [FirmwareUpdateFlow.Step]) -> [String] {
        steps.compactMap { if case .log(let event) = $0 { event.name } else { nil } }
    }

    @Test func anUpdateReadsStoresQuitsAndLaunchesTheGuestsFirmware() throws {
        var flow = Self.flow()
        var steps = try flow.handle(.guestReset)
        #expect(Self.actions(steps) == [.readMailbox])
        steps = try flow.handle(.mailboxRead(Self.mailbox))
        #expect(Self.actions(steps) == [.readPayload(Self.request)])
        #expect(Self.events(steps) == ["vmfwupdate-request-read"])
        steps = try flow.handle(.payloadRead(Self.payload))
        #expect(Self.actions(steps) == [.store(Self.payload)])
        #expect(flow.phase.recorded.rawValue == "storing-image")
        // The image is stored before anything is torn down; the phase records it for recovery.
        steps = try flow.handle(.stored(Self.stored))
        #expect(Self.events(steps) == ["vmfwupdate-image-stored"])
        #expect(Self.actions(steps) == [.quitInstance])
        #expect(flow.phase.recorded.rawValue == "image-stored")
        steps = try flow.handle(.instanceQuit)
        #expect(Self.actions(steps) == [.launchInstance(.guestSupplied(Self.stored))])
        steps = try flow.handle(.instanceLaunched)
        #expect(Self.events(steps) == ["vmfwupdate-instance-launched"])
        #expect(flow.phase == .running)
        #expect(flow.firmware == .guestSupplied(Self.stored))
        #expect((flow.updates, flow.relaunches, flow.resets) == (1, 1, 1))
    }

    @Test(arguments: [
        (VMFWUpdateMailbox.Contents.absent, "no-mailbox"),
        (.mailbox(VMFWUpdateMailbox(control: [.disable, .formatPlatformROM], imageAddress: 0x10000, imageSize: 0x10000)), "disabled"),
        (.mailbox(VMFWUpdateMailbox(control: [.formatPlatformROM])), "no-image"),
    ])
    func withoutARequestAnOrdinaryGuestResetsInPlace(contents: VMFWUpdateMailbox.Contents, reason: String) throws {
        var flow = Self.flow()
        _ = try flow.handle(.guestReset)
        let steps = try flow.handle(.mailboxRead(contents))
        #expect(Self.actions(steps) == [.resetInPlace])
        #expect(steps.first == .log(.noUpdate(NoUpdateReason(rawValue: reason)!)))
        _ = try flow.handle(.resetCompleted)
        #expect(flow.phase == .running)
        #expect((flow.updates, flow.relaunches) == (0, 0))
    }

    @Test func aConfidentialGuestIsRelaunchedWithTheSameFirmware() throws {
        var flow = Self.flow(canResetInPlace: false)
        _ = try flow.handle(.guestReset)
        #expect(Self.actions(try flow.handle(.mailboxRead(.absent))) == [.quitInstance])
        #expect(Self.actions(try flow.handle(.instanceQuit)) == [.launchInstance(.provider)])
        _ = try flow.handle(.instanceLaunched)
        #expect((flow.updates, flow.relaunches, flow.firmware) == (0, 1, .provider))
    }

    @Test func aDisabledInterfaceSkipsTheMailbox() throws {
        var flow = Self.flow(enabled: false)
        #expect(Self.actions(try flow.handle(.guestReset)) == [.resetInPlace])
    }

    @Test func aRejectedRequestIsLoggedAndTheProviderFirmwareBootsAgain() throws {
        var flow = Self.flow()
        _ = try flow.handle(.guestReset)
        let bad = VMFWUpdateMailbox.Contents.mailbox(VMFWUpdateMailbox(
            control: [.formatPlatformROM], imageAddress: 0x10000, imageSize: 0xC000))
        let steps = try flow.handle(.mailboxRead(bad))
        guard case .log(.requestRejected(let reason)) = steps.first else {
            Issue.record("no rejection logged: \(steps)")
            return
        }
        #expect(reason.contains("multiple of 64 KiB"))
        #expect(Self.actions(steps) == [.resetInPlace])
    }

    /// After an update the instance runs the guest's firmware; a rejected request then needs a
    /// new instance to get back to the provider's.
    @Test func aRejectionWhileOnGuestFirmwareRelaunchesTheProviderFirmware() throws {
        var flow = FirmwareUpdateFlow(canResetInPlace: true, interfaceEnabled: true, validator: Self.validator,
                                      firmware: .guestSupplied(Self.stored))
        _ = try flow.handle(.guestReset)
        #expect(Self.actions(try flow.handle(.mailboxRead(.unreadable(reason: "version 9")))) == [.quitInstance])
        #expect(Self.actions(try flow.handle(.instanceQuit)) == [.launchInstance(.provider)])
    }

    @Test func anOrdinaryResetKeepsTheGuestsFirmware() throws {
        var flow = FirmwareUpdateFlow(canResetInPlace: true, interfaceEnabled: true, validator: Self.validator,
                                      firmware: .guestSupplied(Self.stored))
        _ = try flow.handle(.guestReset)
        #expect(Self.actions(try flow.handle(.mailboxRead(.absent))) == [.resetInPlace])
    }

    @Test func aShortReadIsRejected() throws {
        var flow = Self.flow()
        _ = try flow.handle(.guestReset)
        _ = try flow.handle(.mailboxRead(Self.mailbox))
        let steps = try flow.handle(.payloadRead(FirmwareUpdatePayload(format: .platformROM, image: [0], opaque: [1, 2, 3, 4])))
        #expect(Self.events(steps) == ["vmfwupdate-request-rejected"])
    }

    @Test func anImageCheckerCanRejectThePayload() throws {
        struct RejectAll: FirmwareImageChecking {
            func problem(with payload: FirmwareUpdatePayload) -> String? { "not an IGVM file for sev-snp" }
        }
        var flow = FirmwareUpdateFlow(canResetInPlace: true, interfaceEnabled: true, validator: Self.validator, imageChecker: RejectAll())
        _ = try flow.handle(.guestReset)
        _ = try flow.handle(.mailboxRead(Self.mailbox))
        let steps = try flow.handle(.payloadRead(Self.payload))
        #expect(steps.first == .log(.requestRejected(reason: "not an IGVM file for sev-snp")))
    }

    @Test(arguments: ["reading the mailbox failed", "reading the image failed", "storing the image failed"])
    func failuresBeforeTheQuitRebootOnTheProviderFirmware(expected: String) throws {
        var flow = Self.flow()
        _ = try flow.handle(.guestReset)
        if expected != "reading the mailbox failed" { _ = try flow.handle(.mailboxRead(Self.mailbox)) }
        if expected == "storing the image failed" { _ = try flow.handle(.payloadRead(Self.payload)) }
        let steps = try flow.handle(.stepFailed(reason: "disk full"))
        #expect(steps.first == .log(.requestRejected(reason: "\(expected): disk full")))
        #expect(Self.actions(steps) == [.resetInPlace])
    }

    @Test func aFailedLaunchLeavesTheFlowFailed() throws {
        var flow = Self.flow(canResetInPlace: false)
        _ = try flow.handle(.guestReset)
        _ = try flow.handle(.mailboxRead(.absent))
        _ = try flow.handle(.instanceQuit)
        let steps = try flow.handle(.stepFailed(reason: "no /dev/sev"))
        #expect(steps == [.log(.stepFailed(step: "launching", reason: "no /dev/sev"))])
        #expect(flow.phase == .failed(reason: "no /dev/sev"))
    }

    @Test func aPoweroffQuitsAndStops() throws {
        var flow = Self.flow()
        #expect(try flow.handle(.guestPowerOff) == [.log(.guestPoweredOff), .quitInstance])
        #expect(Self.actions(try flow.handle(.instanceQuit)) == [.finishStopped])
        #expect(flow.phase == .stopped)
    }

    @Test func anInputOutOfOrderIsAnError() {
        var flow = Self.flow()
        #expect(throws: FirmwareUpdateFlow.UnexpectedInput.self) { try flow.handle(.instanceLaunched) }
    }
}

/// A reset the host asks for (QMP `system_reset` under `-action reboot=shutdown`) arrives as
/// SHUTDOWN {guest: false, reason: "host-qmp-system-reset"} with the VM paused.
@Suite struct HostResetFlowTests {
    @Test("a host system_reset resets an ordinary guest in place, reading no mailbox")
    func hostResetInPlace() throws {
        var flow = FirmwareUpdateFlowTests.flow(canResetInPlace: true)
        let steps = try flow.handle(.hostReset)
        #expect(FirmwareUpdateFlowTests.actions(steps) == [.resetInPlace])
        #expect(FirmwareUpdateFlowTests.events(steps) == ["vmfwupdate-host-reset"])
        #expect(try FirmwareUpdateFlowTests.actions(flow.handle(.resetCompleted)).isEmpty)
        #expect(flow.phase == .running)
        #expect(flow.resets == 1)
    }

    @Test("a host system_reset of a guest QEMU cannot reset in place relaunches it on the same firmware")
    func hostResetRelaunches() throws {
        var flow = FirmwareUpdateFlowTests.flow(canResetInPlace: false)
        #expect(FirmwareUpdateFlowTests.actions(try flow.handle(.hostReset)) == [.quitInstance])
        #expect(FirmwareUpdateFlowTests.actions(try flow.handle(.instanceQuit)) == [.launchInstance(.provider)])
        _ = try flow.handle(.instanceLaunched)
        #expect(flow.phase == .running)
        #expect(flow.relaunches == 1 && flow.updates == 0)
    }

    @Test("nocc, sev-guest and sev-snp-guest are relaunched on reset; only an ordinary guest resets in place")
    func resetInPlaceByType() throws {
        for (type, inPlace) in [("sev-snp-guest", false), ("sev-guest", false), ("nocc", false), (nil, true)] as [(String?, Bool)] {
            let confidential = type.map { "\n[confidential]\ntype = \"\($0)\"\n" } ?? ""
            let definition = try VMDefinition.parse("name = \"r\"\n[qemu]\nmachine = \"q35\"\nmemory = \"64M\"\n" + confidential, file: "r.toml",
                                                    baseDirectory: URL(fileURLWithPath: "/cfg"), defaultName: "r")
            #expect(VMFWUpdateSetup.canResetInPlace(definition) == inPlace, "\(type ?? "ordinary")")
        }
    }
}
