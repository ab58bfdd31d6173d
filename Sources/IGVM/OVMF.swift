import Numerals

/// A GUID in its on-disk (little-endian, "bytes_le") form, printed in the usual text form.
public struct OVMFGUID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// From 16 on-disk bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// From the text form "96b582de-1fb2-45f7-baea-a366c55a082d".
    public init?(_ text: String) {
        let hexDigits = text.filter { $0 != "-" }
        guard hexDigits.count == 32 else { return nil }
        var raw: [UInt8] = []
        var i = hexDigits.startIndex
        while i < hexDigits.endIndex {
            let j = hexDigits.index(i, offsetBy: 2)
            guard let b = Numeral.digits(hexDigits[i..<j], radix: 16) else { return nil }
            raw.append(UInt8(b))
            i = j
        }
        // The first three fields are stored little-endian.
        bytes = [raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]] + raw[8...]
    }

    public var description: String {
        let b = bytes
        func h(_ r: [UInt8]) -> String { r.map { hex($0, uppercase: false, prefix: "", width: 2) }.joined() }
        return [h([b[3], b[2], b[1], b[0]]), h([b[5], b[4]]), h([b[7], b[6]]), h(Array(b[8..<10])), h(Array(b[10..<16]))]
            .joined(separator: "-")
    }

    /// The footer GUID that ends OVMF's GUIDed table.
    public static let footerTable = OVMFGUID("96b582de-1fb2-45f7-baea-a366c55a082d")!
    /// SEV-ES reset block: the first u32 is the AP reset EIP.
    public static let sevESResetBlock = OVMFGUID("00f771de-1a7e-4fcb-890e-68c77e2fb44e")!
    /// SEV hash table (kernel/initrd/cmdline hashes): u32 GPA, u32 size.
    public static let sevHashTable = OVMFGUID("7255371f-3a3b-4b04-927b-1da6efa8d454")!
    /// SEV metadata: u32 offset from the end of the image to the `ASEV` header.
    public static let sevMetadata = OVMFGUID("dc886566-984a-4798-a75e-5585a7bf67cc")!
    /// SEV secret area: u32 GPA, u32 size.
    public static let sevSecret = OVMFGUID("4c2eb361-7d9b-4cc3-8081-127c90d3d294")!
}

/// The kind of an OVMF SEV metadata section (edk2 `OvmfSevMetadata.asm`).
public enum OVMFSectionType: UInt32, Sendable, CaseIterable {
    case snpSecMem = 1
    case snpSecrets = 2
    case cpuid = 3
    case svsmCAA = 4
    case snpKernelHashes = 0x10

    public var name: String {
        switch self {
        case .snpSecMem: "snp-sec-mem"
        case .snpSecrets: "snp-secrets"
        case .cpuid: "cpuid"
        case .svsmCAA: "svsm-caa"
        case .snpKernelHashes: "snp-kernel-hashes"
        }
    }
}

/// One `{u32 gpa, u32 size, u32 type}` item of the SEV metadata.
public struct OVMFMetadataSection: Sendable, Hashable {
    public var gpa: UInt32
    public var size: UInt32
    public var type: OVMFSectionType
}

/// Why an OVMF image's footer table or SEV metadata could not be read.
public struct OVMFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Offset in the image of the bad structure.
    public var offset: Int
    public var message: String
    public var description: String { "OVMF image offset \(hex(offset)): \(message)" }
}

/// An OVMF firmware image mapped so that it ends at 4 GiB, with its GUIDed footer table
/// (the layout sev-snp-measure's `ovmf.py` and QEMU's `pc_sysfw_ovmf.c` read).
public struct OVMFImage: Sendable {
    public let bytes: [UInt8]
    /// Footer-table entries in table order (last entry in the file first), GUID → data.
    public let tableEntries: [(guid: OVMFGUID, data: [UInt8])]
    /// SEV metadata sections, in metadata order; empty when the image has none.
    public let metadataSections: [OVMFMetadataSection]

    /// Parses the footer table and SEV metadata; an image without a footer table is accepted
    /// (no entries). Malformed tables throw.
    /// - Parameter endGPA: where the image ends in guest memory (4 GiB for `-bios`).
    public init(bytes: [UInt8], endGPA: UInt64 = 0x1_0000_0000) throws(OVMFError) {
        self.bytes = bytes
        self.endGPA = endGPA
        tableEntries = try Self.parseFooterTable(bytes)
        metadataSections = try Self.parseMetadata(bytes, tableEntries)
    }

    public let endGPA: UInt64
    /// GPA of the first byte of the image.
    public var gpa: UInt64 { endGPA - UInt64(bytes.count) }

    public func entry(_ guid: OVMFGUID) -> [UInt8]? { tableEntries.first(where: { $0.guid == guid })?.data }

    private func u32(in guid: OVMFGUID, at offset: Int) -> UInt32? {
        guard let d = entry(guid), d.count >= offset + 4 else { return nil }
        return LEReader(d).u32(offset)
    }

    /// EIP at which SEV-ES/SNP APs start (from the SEV-ES reset block).
    public var sevESResetEIP: UInt32? { u32(in: .sevESResetBlock, at: 0) }
    /// GPA of the SEV kernel-hash table, when the image has one (non-zero).
    public var sevHashTableGPA: UInt32? { u32(in: .sevHashTable, at: 0).flatMap { $0 == 0 ? nil : $0 } }
    public var sevHashTableSize: UInt32? { u32(in: .sevHashTable, at: 4) }
    public var sevSecretGPA: UInt32? { u32(in: .sevSecret, at: 0) }

    static func parseFooterTable(_ b: [UInt8]) throws(OVMFError) -> [(guid: OVMFGUID, data: [UInt8])] {
        let entryHeader = 18  // u16 size + GUID
        let footerStart = b.count - 32 - entryHeader
        guard footerStart >= 0 else { return [] }
        let footerGUID = OVMFGUID(bytes: Array(b[(footerStart + 2)..<(footerStart + 18)]))!
        guard footerGUID == .footerTable else { return [] }
        let tableSize = Int(LEReader(b).u16(footerStart)) - entryHeader
        guard tableSize >= 0, tableSize <= footerStart else {
            throw OVMFError(offset: footerStart, message: "footer table size \(tableSize + entryHeader) does not fit in the image")
        }
        var end = footerStart  // table occupies [footerStart - tableSize, footerStart)
        let start = footerStart - tableSize
        var entries: [(OVMFGUID, [UInt8])] = []
        while end - start >= entryHeader {
            let h = end - entryHeader
            let size = Int(LEReader(b).u16(h))
            guard size >= entryHeader, size <= end - start else {
                throw OVMFError(offset: h, message: "footer table entry size \(size) is invalid")
            }
            entries.append((OVMFGUID(bytes: Array(b[(h + 2)..<(h + 18)]))!, Array(b[(end - size)..<h])))
            end -= size
        }
        return entries.map { (guid: $0.0, data: $0.1) }
    }

    static func parseMetadata(_ b: [UInt8], _ entries: [(guid: OVMFGUID, data: [UInt8])]) throws(OVMFError) -> [OVMFMetadataSection] {
        guard let e = entries.first(where: { $0.guid == .sevMetadata })?.data else { return [] }
        guard e.count >= 4 else { throw OVMFError(offset: b.count - 32, message: "SEV metadata entry is shorter than 4 bytes") }
        let fromEnd = Int(LEReader(e).u32(0))
        let start = b.count - fromEnd
        guard fromEnd <= b.count, LEReader.fits(b, offset: start, count: 16) else {
            throw OVMFError(offset: b.count - 32, message: "SEV metadata offset \(fromEnd) from the end is outside the image")
        }
        let r = LEReader(b, at: start)
        guard b[start..<(start + 4)].elementsEqual("ASEV".utf8) else {
            throw OVMFError(offset: start, message: "SEV metadata signature is not \"ASEV\"")
        }
        guard r.u32(8) == 1 else { throw OVMFError(offset: start + 8, message: "SEV metadata version \(r.u32(8)) is not 1") }
        let count = Int(r.u32(12))
        guard count <= (b.count - start - 16) / 12 else {
            throw OVMFError(offset: start + 12, message: "SEV metadata claims \(count) sections, more than fit in the image")
        }
        var sections: [OVMFMetadataSection] = []
        for i in 0..<count {
            let item = LEReader(b, at: start + 16 + 12 * i)
            guard let type = OVMFSectionType(rawValue: item.u32(8)) else {
                throw OVMFError(offset: start + 16 + 12 * i + 8, message: "SEV metadata section type \(item.u32(8)) is unknown")
            }
            sections.append(OVMFMetadataSection(gpa: item.u32(0), size: item.u32(4), type: type))
        }
        return sections
    }
}
