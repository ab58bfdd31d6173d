import Supervisor
import Launch
import Foundation
import Numerals
import JSON

/// Where the manager reads a guest's update request and payload from. Two channels exist in the
/// design: the guest-memory mailbox (any QEMU ≥ 6.0, implemented here) and a QEMU `vmfwupdate`
/// device. The v6 device ("[PATCH v6] hw/misc/vmfwupdate: Introduce hypervisor fw-cfg interface
/// support", qemu-devel, February 2025, never merged) keeps the request in fw-cfg files inside
/// QEMU and carries it out in QEMU's own reset handler; it exposes nothing but its `disable`
/// property to QOM, so a manager cannot read the request through `qom-get`. Its IGVM-only
/// successor `vm-launch-update` (QEMU development tree, August 2026) likewise keeps the request
/// inside QEMU, and no QEMU release tested here has either device. That channel is therefore not
/// implemented (docs/vmfwupdate.md; docs/background.md, "vmfwupdate").
public protocol FirmwareUpdateChannel: Sendable {
    /// The mailbox contents of the paused instance.
    func readMailbox() async throws -> VMFWUpdateMailbox.Contents
    /// The image and opaque blob a validated request names.
    func readPayload(_ request: FirmwareUpdateRequest) async throws -> FirmwareUpdatePayload
}

/// Reads guest-physical memory of a (paused) instance.
public protocol GuestPhysicalMemoryReader: Sendable {
    func read(_ range: GuestPhysicalRange) async throws -> [UInt8]
}

/// The guest-memory mailbox channel: the mailbox at a GPA the config names, the payload where
/// the mailbox points.
public struct GuestMemoryMailboxChannel: FirmwareUpdateChannel {
    public let mailboxGPA: UInt64
    public let memory: any GuestPhysicalMemoryReader

    public init(mailboxGPA: UInt64, memory: any GuestPhysicalMemoryReader) {
        self.mailboxGPA = mailboxGPA
        self.memory = memory
    }

    public func readMailbox() async throws -> VMFWUpdateMailbox.Contents {
        guard let range = GuestPhysicalRange(start: mailboxGPA, length: UInt64(VMFWUpdateMailbox.length)) else {
            return .unreadable(reason: "mailbox GPA \(hex(mailboxGPA, uppercase: false)) overflows")
        }
        return VMFWUpdateMailbox.decode(try await memory.read(range))
    }

    public func readPayload(_ request: FirmwareUpdateRequest) async throws -> FirmwareUpdatePayload {
        let image = try await memory.read(request.image)
        var opaque: [UInt8]?
        if let range = request.opaque { opaque = try await memory.read(range) }
        return FirmwareUpdatePayload(format: request.format, image: image, opaque: opaque)
    }
}

/// Guest memory through QMP `pmemsave` (QEMU writes the range to a file we then read): QMP has
/// no command that returns guest memory in the reply.
public struct PmemsaveMemoryReader: GuestPhysicalMemoryReader {
    /// Runs one QMP command and returns its `return` value (throws on a QMP error).
    public typealias Execute = @Sendable (_ command: String, _ arguments: JSONObject) async throws -> JSON

    public let execute: Execute
    /// A private folder (mode 0700) QEMU can write into.
    public let scratchDirectory: String

    public init(scratchDirectory: String, execute: @escaping Execute) {
        self.scratchDirectory = scratchDirectory
        self.execute = execute
    }

    public struct ShortRead: Error, CustomStringConvertible {
        public var description: String
    }

    public func read(_ range: GuestPhysicalRange) async throws -> [UInt8] {
        let path = "\(scratchDirectory)/pmemsave-\(UUID().uuidString)"
        defer { unlink(path) }
        _ = try await execute("pmemsave", [
            "val": JSON(range.start), "size": JSON(range.length), "filename": .string(path),
        ])
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard UInt64(data.count) == range.length else {
            throw ShortRead(description: "pmemsave of \(range) wrote \(data.count) bytes")
        }
        return [UInt8](data)
    }
}
