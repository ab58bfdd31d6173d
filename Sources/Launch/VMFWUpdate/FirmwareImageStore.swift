import Crypto
import Foundation

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
        try WholeFile.write(payload.image, to: imagePath)
        var stored = StoredFirmware(format: payload.format, imagePath: imagePath, imageSHA256: imageHash,
                                    imageSize: UInt64(payload.image.count))
        if let opaque = payload.opaque {
            let opaqueHash = Self.sha256Hex(opaque)
            let opaquePath = "\(directory)/\(opaqueHash).opaque"
            try WholeFile.write(opaque, to: opaquePath)
            stored.opaquePath = opaquePath
            stored.opaqueSHA256 = opaqueHash
        }
        return stored
    }

    /// Lowercase hex SHA-256.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// Writing a file so that readers see either the old or the new contents, never a mix.
enum WholeFile {
    static func write(_ bytes: [UInt8], to path: String) throws(FirmwareImageStore.Failure) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create", temporary) }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let writeErrno = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            errno = writeErrno
            throw failure("cannot write", temporary)
        }
        guard rename(temporary, path) == 0 else {
            let e = failure("cannot rename to", path)
            unlink(temporary)
            throw e
        }
        let folder = (path as NSString).deletingLastPathComponent
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    private static func failure(_ what: String, _ path: String) -> FirmwareImageStore.Failure {
        FirmwareImageStore.Failure(description: "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
