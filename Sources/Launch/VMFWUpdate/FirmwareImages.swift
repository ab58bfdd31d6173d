import Definition
import JSON

/// A firmware image the guest supplied, as stored in the VM's state folder.
public struct StoredFirmware: Sendable, Hashable {
    public var format: FirmwareImageFormat
    public var imagePath: String
    /// Lowercase hex SHA-256 of the image.
    public var imageSHA256: String
    public var imageSize: UInt64
    /// The opaque blob handed to the new firmware as a read-only fw-cfg file, if any.
    public var opaquePath: String?
    public var opaqueSHA256: String?
    /// The launch digest of the relaunch on this image (for `sev-guest`/`sev-snp-guest`; nil for
    /// ordinary guests), computed when the image is stored, before the old instance is quit.
    public var launchMeasurement: ExpectedLaunchMeasurement?

    public init(format: FirmwareImageFormat, imagePath: String, imageSHA256: String, imageSize: UInt64,
                opaquePath: String? = nil, opaqueSHA256: String? = nil, launchMeasurement: ExpectedLaunchMeasurement? = nil) {
        self.format = format
        self.imagePath = imagePath
        self.imageSHA256 = imageSHA256
        self.imageSize = imageSize
        self.opaquePath = opaquePath
        self.opaqueSHA256 = opaqueSHA256
        self.launchMeasurement = launchMeasurement
    }

    /// How a definition names this image as its firmware (what the relaunch boots).
    public var bootSource: BootSource {
        switch format {
        case .platformROM: .bios(imagePath)
        case .igvm: .igvm(file: imagePath)
        }
    }

    public var json: JSON {
        var object: JSONObject = [
            "format": .string(format.rawValue), "image": .string(imagePath),
            "sha256": .string(imageSHA256), "size": JSON(imageSize),
        ]
        if let opaquePath { object["opaque"] = .string(opaquePath) }
        if let opaqueSHA256 { object["opaque-sha256"] = .string(opaqueSHA256) }
        if let launchMeasurement { object["launch-measurement"] = launchMeasurement.json }
        return .object(object)
    }

    /// The record `json` writes, or nil when `json` is not one.
    public init?(json: JSON?) {
        guard let json, let format = json["format"]?.stringValue.flatMap(FirmwareImageFormat.init(rawValue:)),
              let image = json["image"]?.stringValue, let sha256 = json["sha256"]?.stringValue,
              let size = json["size"]?.uint64Value
        else { return nil }
        self.init(format: format, imagePath: image, imageSHA256: sha256, imageSize: size,
                  opaquePath: json["opaque"]?.stringValue, opaqueSHA256: json["opaque-sha256"]?.stringValue,
                  launchMeasurement: ExpectedLaunchMeasurement(json: json["launch-measurement"]))
    }
}

/// Which firmware an instance boots.
public enum FirmwareInUse: Sendable, Hashable {
    /// The provider's firmware from the VM's config (every `start` boots this).
    case provider
    /// An image the guest supplied through the interface.
    case guestSupplied(StoredFirmware)

    public var json: JSON {
        switch self {
        case .provider: ["source": "provider"]
        case .guestSupplied(let stored): ["source": "guest", "stored": stored.json]
        }
    }

    /// The firmware `json` names, or nil when `json` is not such a record.
    public init?(json: JSON?) {
        switch json?["source"]?.stringValue {
        case "provider": self = .provider
        case "guest":
            guard let stored = StoredFirmware(json: json?["stored"]) else { return nil }
            self = .guestSupplied(stored)
        default: return nil
        }
    }
}

/// The image and opaque blob read out of guest memory.
public struct FirmwareUpdatePayload: Sendable, Hashable {
    public var format: FirmwareImageFormat
    public var image: [UInt8]
    public var opaque: [UInt8]?

    public init(format: FirmwareImageFormat, image: [UInt8], opaque: [UInt8]?) {
        self.format = format
        self.image = image
        self.opaque = opaque
    }
}

/// Checks image bytes that the request alone cannot vouch for (an IGVM file's structure and
/// platform). Returns the reason to reject, or nil.
public protocol FirmwareImageChecking: Sendable {
    func problem(with payload: FirmwareUpdatePayload) -> String?
}

/// The bytes read must be exactly what the request named; a platform ROM needs nothing more
/// (the reset vector is the guest's business, as with any `-bios`).
public struct ReadLengthCheck: FirmwareImageChecking {
    public var request: FirmwareUpdateRequest
    public init(request: FirmwareUpdateRequest) { self.request = request }
    public func problem(with payload: FirmwareUpdatePayload) -> String? {
        if UInt64(payload.image.count) != request.image.length {
            return "read \(payload.image.count) image bytes, the request names \(request.image.length)"
        }
        if UInt64(payload.opaque?.count ?? 0) != (request.opaque?.length ?? 0) {
            return "read \(payload.opaque?.count ?? 0) opaque bytes, the request names \(request.opaque?.length ?? 0)"
        }
        return nil
    }
}
