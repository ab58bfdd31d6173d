import Numerals


/// Which key signed a report (bits 4:2 at 0x48, SIGNING_KEY).
public enum SigningKey: Sendable, Hashable, CustomStringConvertible {
    /// The chip's Versioned Chip Endorsement Key (certificate from AMD's KDS, per chip and TCB).
    case vcek
    /// A Versioned Loaded Endorsement Key (issued to a cloud provider; chains through the ASVK).
    case vlek
    /// The report is unsigned (the guest asked for no key, or none is loaded).
    case none
    /// A value the ABI reserves.
    case reserved(UInt8)

    init(field: UInt8) {
        switch field {
        case 0: self = .vcek
        case 1: self = .vlek
        case 7: self = .none
        default: self = .reserved(field)
        }
    }

    public var description: String {
        switch self {
        case .vcek: "vcek"
        case .vlek: "vlek"
        case .none: "none"
        case .reserved(let v): "reserved (\(v))"
        }
    }
}

/// The report's key information word (u32 at 0x48).
public struct KeyInfo: Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// AUTHOR_KEY_EN: AUTHOR_KEY_DIGEST holds the author key's digest.
    public var authorKeyEnabled: Bool { rawValue & 1 != 0 }
    /// MASK_CHIP_KEY: the firmware masked CHIP_ID (all zero) at the guest's request.
    public var maskChipKey: Bool { rawValue & 2 != 0 }
    public var signingKey: SigningKey { SigningKey(field: UInt8((rawValue >> 2) & 7)) }
}

/// PLATFORM_INFO (u64 at 0x40): how the platform was configured when the report was made.
public struct PlatformInfo: Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let namedBits: [(bit: Int, name: String)] = [
        (0, "smt-enabled"), (1, "tsme-enabled"), (2, "ecc-enabled"), (3, "rapl-disabled"),
        (4, "ciphertext-hiding-enabled"), (5, "alias-check-complete"), (7, "tio-enabled"),
    ]

    public var setBitNames: [String] { Self.namedBits.filter { rawValue & (1 << UInt64($0.bit)) != 0 }.map(\.name) }
}

/// A firmware version as the report stores it (build, minor, major bytes).
public struct FirmwareVersion: Sendable, Hashable, CustomStringConvertible {
    public let major: UInt8
    public let minor: UInt8
    public let build: UInt8
    public var description: String { "\(major).\(minor).\(build)" }
}

/// The CPUID identity a report carries from version 3 on.
public struct CPUIdentity: Sendable, Hashable, CustomStringConvertible {
    public let family: UInt8
    public let model: UInt8
    public let stepping: UInt8

    public init(family: UInt8, model: UInt8, stepping: UInt8) {
        self.family = family
        self.model = model
        self.stepping = stepping
    }

    public var product: AMDProduct? { AMDProduct(cpuidFamily: family, model: model) }
    public var description: String {
        "family \(hex(family, uppercase: false)) model \(hex(model, uppercase: false)) stepping \(hex(stepping, uppercase: false))"
    }
}
