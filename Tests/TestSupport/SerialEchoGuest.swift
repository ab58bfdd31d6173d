import Foundation

/// A guest that boots in well under a second under TCG: a Multiboot image (QEMU's `-kernel`
/// loads it, hw/i386/multiboot.c) that prints `banner` on the first serial port (COM1, 0x3F8)
/// and then echoes every byte it receives there. The serial console tests use it where the
/// Linux guest would only add boot time.
///
/// The project's own code (same licence as the repository), assembled by hand from the listing
/// below; QEMU loads it at 1 MiB in 32-bit protected mode with flat segments and no stack
/// (Multiboot Specification 0.6.96, §3.1 "OS image format" and §3.2 "Machine state",
/// https://www.gnu.org/software/grub/manual/multiboot/multiboot.html).
public enum SerialEchoGuest {
    /// What the guest prints when it starts, then `\r\n`.
    public static let banner = "igvm-test-guest: ready"

    /// Where QEMU loads the image (the header's `load_addr`).
    static let loadAddress: UInt32 = 0x10_0000

    /// The image's bytes: the Multiboot header, the code, the banner.
    public static var image: [UInt8] {
        let magic: UInt32 = 0x1BAD_B002
        let flags: UInt32 = 1 << 16  // the address fields below are valid (no ELF needed)
        let header: [UInt32] = [
            magic, flags, 0 &- (magic &+ flags),  // checksum: the three sum to 0
            loadAddress,  // header_addr: the header is the image's first byte
            loadAddress,  // load_addr
            0,  // load_end_addr: load the whole file
            0,  // bss_end_addr: no BSS
            loadAddress + 32,  // entry_addr: right after the header
        ]
        let message = loadAddress + 32 + UInt32(code.count)
        let text = Array((banner + "\r\n").utf8) + [0]
        return header.flatMap(littleEndian) + code.prefix(6) + littleEndian(message) + code.dropFirst(10) + text
    }

    /// The code at entry, offsets from `entry_addr`:
    ///
    ///      0  BC 00 00 09 00     mov esp, 0x90000        ; a stack below 640 KiB
    ///      5  BE xx xx xx xx     mov esi, banner
    ///     10  AC                 print: lodsb
    ///     11  84 C0              test al, al
    ///     13  74 09              jz echo
    ///     15  88 C4              mov ah, al
    ///     17  E8 19 00 00 00     call transmit
    ///     22  EB F2              jmp print
    ///     24  66 BA FD 03        echo: mov dx, 0x3FD     ; line status register
    ///     28  EC                 wait: in al, dx
    ///     29  A8 01              test al, 1              ; data ready
    ///     31  74 FB              jz wait
    ///     33  66 BA F8 03        mov dx, 0x3F8           ; receive buffer
    ///     37  EC                 in al, dx
    ///     38  88 C4              mov ah, al
    ///     40  E8 02 00 00 00     call transmit
    ///     45  EB E9              jmp echo
    ///     47  66 BA FD 03        transmit: mov dx, 0x3FD
    ///     51  EC                 idle: in al, dx
    ///     52  A8 20              test al, 0x20           ; transmit holding register empty
    ///     54  74 FB              jz idle
    ///     56  66 BA F8 03        mov dx, 0x3F8
    ///     60  88 E0              mov al, ah
    ///     62  EE                 out dx, al
    ///     63  C3                 ret
    ///
    /// (The banner's address, bytes 6–9, is filled in by `image`.)
    static let code: [UInt8] = [
        0xBC, 0x00, 0x00, 0x09, 0x00,
        0xBE, 0x00, 0x00, 0x00, 0x00,
        0xAC, 0x84, 0xC0, 0x74, 0x09, 0x88, 0xC4, 0xE8, 0x19, 0x00, 0x00, 0x00, 0xEB, 0xF2,
        0x66, 0xBA, 0xFD, 0x03, 0xEC, 0xA8, 0x01, 0x74, 0xFB, 0x66, 0xBA, 0xF8, 0x03, 0xEC, 0x88, 0xC4,
        0xE8, 0x02, 0x00, 0x00, 0x00, 0xEB, 0xE9,
        0x66, 0xBA, 0xFD, 0x03, 0xEC, 0xA8, 0x20, 0x74, 0xFB, 0x66, 0xBA, 0xF8, 0x03, 0x88, 0xE0, 0xEE, 0xC3,
    ]

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// Writes the image to `folder/echo-guest.bin` and returns the QEMU arguments that boot it.
    public static func arguments(in folder: String) throws -> [String] {
        let path = folder + "/echo-guest.bin"
        try Data(image).write(to: URL(fileURLWithPath: path))
        return ["-kernel", path]
    }
}
