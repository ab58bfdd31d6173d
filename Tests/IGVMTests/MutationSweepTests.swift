import IGVM
import Testing

/// Deterministic companion to the fuzzer: every byte of the headers of a file using many header
/// types is overwritten with boundary values (checksum repaired so the walk is reached), and the
/// file is cut at every header boundary. Each variant must parse or throw `IGVMParseError`
/// (a crash fails the run), and accepted variants must survive the validator (the fuzzer also
/// drives the writer and inspector).
@Suite struct MutationSweepTests {
    static func richFile() -> [UInt8] {
        MiniFile.bytes { w in
            w.platforms.append(IGVMSupportedPlatform(compatibilityMask: 2, platformType: .native))
            w.add(MiniFile.area(0))
            w.add(.parameter(IGVMParameter(kind: .memoryMap, parameterAreaIndex: 0, byteOffset: 0)))
            w.add(MiniFile.insert(0))
            w.add(.requiredMemory(IGVMRequiredMemory(gpa: 0x40000, compatibilityMask: 1, numberOfBytes: 0x1000, flags: 0)))
            w.add(ValidatorTests.idBlock())
            w.add(MiniFile.vp(1), data: ValidatorTests.snpVMSA())
            w.add(MiniFile.vp(2, gpa: 0), data: [])
        }
    }

    @Test func everyHeaderByteMutated() throws {
        let base = Self.richFile()
        let file = try IGVMFile(bytes: base)
        var accepted = 0, rejected = 0
        for offset in 0..<file.fileDataStart where !(0x14..<0x18).contains(offset) {
            for value: UInt8 in [0x00, 0xFF] where base[offset] != value {
                var b = base
                b[offset] = value
                IGVMChecksum.repair(&b)
                do {
                    let parsed = try IGVMFile(bytes: b)
                    accepted += 1
                    _ = IGVMInspector.report(parsed).textLines
                    _ = IGVMValidator(platform: .sevSNP, qemuVersion: QEMUVersion(major: 10, minor: 2), vcpus: 1).validate(parsed)
                } catch {
                    rejected += 1
                    #expect(error.offset >= 0 && error.offset <= b.count)
                }
            }
        }
        #expect(accepted > 0 && rejected > 0)
    }

    /// The variable-header section cut at every 4th byte (file data kept after it): each
    /// variant parses or throws with an offset inside the file.
    @Test func everySectionCut() throws {
        let base = Self.richFile()
        let start = try IGVMFile(bytes: base).fileDataStart
        for cut in stride(from: 0x18, to: start, by: 4) {
            var b = Array(base[0..<cut]) + Array(base[start...])
            b.replaceSubrange(0xC..<0x10, with: withUnsafeBytes(of: UInt32(cut - 0x18).littleEndian, Array.init))
            b.replaceSubrange(0x10..<0x14, with: withUnsafeBytes(of: UInt32(b.count).littleEndian, Array.init))
            IGVMChecksum.repair(&b)
            do {
                _ = try IGVMFile(bytes: b)
            } catch {
                #expect(error.offset >= 0 && error.offset < b.count, "cut \(cut): \(error)")
            }
        }
        // Cut inside the fixed header: always the fixed-header error.
        for length in 0..<0x18 {
            do {
                _ = try IGVMFile(bytes: Array(base.prefix(length)))
                Issue.record("a \(length)-byte file was accepted")
            } catch {
                #expect(error.code == .invalidFixedHeader)
            }
        }
    }
}
