import Launch
import FileAccess
import Crypto
import Foundation
import Measure

#if canImport(Glibc)
import Glibc
#endif

/// Stores the images and opaque blobs guests supply, in a folder of the VM's state directory.
///
/// Files are named by their SHA-256, so storing the same image twice is idempotent, and each is
/// written whole (temporary file, fsync, rename, fsync of the folder): a supervisor killed at
/// any moment leaves either no file or the complete one, never a torn image.
public struct FirmwareImageStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes the payload's image and opaque blob and returns where they are.
    public func store(_ payload: FirmwareUpdatePayload) throws(Failure) -> StoredFirmware {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        let imageHash = Self.sha256Hex(payload.image)
        let suffix = payload.format == .igvm ? "igvm" : "rom"
        let imagePath = "\(directory)/\(imageHash).\(suffix)"
        try Self.writeWhole(payload.image, to: imagePath)
        var stored = StoredFirmware(format: payload.format, imagePath: imagePath, imageSHA256: imageHash,
                                    imageSize: UInt64(payload.image.count))
        if let opaque = payload.opaque {
            let opaqueHash = Self.sha256Hex(opaque)
            let opaquePath = "\(directory)/\(opaqueHash).opaque"
            try Self.writeWhole(opaque, to: opaquePath)
            stored.opaquePath = opaquePath
            stored.opaqueSHA256 = opaqueHash
        }
        return stored
    }

    /// Lowercase hex SHA-256.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }
}

extension FirmwareImageStore {
    /// Writes whole (`AtomicFile`, as every state file), reported as this store's failure.
    static func writeWhole(_ bytes: [UInt8], to path: String) throws(Failure) {
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw Failure(description: error.description)
        }
    }
}
