import Launch
import Numerals

/// The manager's side of the mailbox when guest RAM is a file (`GuestRAMFile`): it restores the
/// read-only fields, latches `control.DISABLE`, and clears the request at every reset.
///
/// The thread's device would trap the guest's writes; memory cannot, so the keeper watches: the
/// supervisor calls `watch()` every `watchInterval` while the guest runs. Once it has seen
/// DISABLE, the interface stays disabled until the next reset, whatever the guest writes after
/// ("Writing is only allowed if the value is 0 … This value resets to 0 on system reset", v6
/// patch's docs/specs/vmfwupdate.rst). A DISABLE set and cleared again between two looks is not
/// seen; a guest that must be sure waits until the read-only fields it overwrote are restored
/// (the test firmware's latch variant does).
public actor MailboxKeeper {
    public let ram: GuestRAMFile
    public let mailboxGPA: UInt64
    public let offer: VMFWUpdateOffer
    public private(set) var disableLatched = false

    public static let watchInterval: Duration = .milliseconds(20)

    public init(ram: GuestRAMFile, mailboxGPA: UInt64, offer: VMFWUpdateOffer) {
        self.ram = ram
        self.mailboxGPA = mailboxGPA
        self.offer = offer
    }

    private var range: GuestPhysicalRange { GuestPhysicalRange(start: mailboxGPA, length: UInt64(VMFWUpdateMailbox.length))! }

    /// One look at the running guest's mailbox. Returns true when this look latched DISABLE.
    public func watch() throws -> Bool {
        guard case .mailbox(let mailbox) = VMFWUpdateMailbox.decode(try ram.read(range)) else { return false }
        if mailbox.capabilities != offer.capabilities || mailbox.firmwareROMSize != offer.firmwareROMSize {
            // Read-only for the guest: put the manager's values back, those two fields only, so
            // that a request the guest is writing meanwhile is not overwritten.
            try ram.write(LittleEndian.bytes(offer.capabilities.rawValue), at: mailboxGPA + UInt64(VMFWUpdateMailbox.Offset.capabilities))
            try ram.write(LittleEndian.bytes(offer.firmwareROMSize), at: mailboxGPA + UInt64(VMFWUpdateMailbox.Offset.firmwareROMSize))
        }
        guard !disableLatched, mailbox.control.contains(.disable) else { return false }
        disableLatched = true
        return true
    }

    /// The mailbox at a reset, DISABLE added when it was latched during the run.
    public func readAtReset() throws -> VMFWUpdateMailbox.Contents {
        _ = try watch()
        let contents = VMFWUpdateMailbox.decode(try ram.read(range))
        guard disableLatched, case .mailbox(var mailbox) = contents else { return contents }
        mailbox.control.insert(.disable)
        return .mailbox(mailbox)
    }

    /// Before the guest runs again (reset in place or relaunch): request and control cleared,
    /// read-only fields restored, opaque blob kept; the latch ends with the reset.
    public func resetForNextRun() throws {
        let current: VMFWUpdateMailbox
        if case .mailbox(let mailbox) = VMFWUpdateMailbox.decode(try ram.read(range)) { current = mailbox } else { current = .init() }
        try ram.write(current.afterReset(offer: offer).encoded(), at: mailboxGPA)
        disableLatched = false
    }
}

/// Guest memory read straight from the RAM file (no QMP round trip).
public struct RAMFileMemoryReader: GuestPhysicalMemoryReader {
    public let ram: GuestRAMFile
    public init(ram: GuestRAMFile) { self.ram = ram }
    public func read(_ range: GuestPhysicalRange) async throws -> [UInt8] { try ram.read(range) }
}

/// The mailbox channel over the RAM file: the mailbox through the keeper (latch applied), the
/// payload from the file.
public struct KeptMailboxChannel: FirmwareUpdateChannel {
    public let keeper: MailboxKeeper
    public init(keeper: MailboxKeeper) { self.keeper = keeper }

    public func readMailbox() async throws -> VMFWUpdateMailbox.Contents { try await keeper.readAtReset() }

    public func readPayload(_ request: FirmwareUpdateRequest) async throws -> FirmwareUpdatePayload {
        try await GuestMemoryMailboxChannel(mailboxGPA: keeper.mailboxGPA, memory: RAMFileMemoryReader(ram: keeper.ram))
            .readPayload(request)
    }
}
