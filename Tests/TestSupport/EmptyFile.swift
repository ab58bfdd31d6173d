import Foundation

/// An empty regular file, for inputs that sev-snp-measure's own vectors give as `/dev/null`
/// (an empty kernel, initrd): igvm-mgr takes regular files only, and an empty one hashes the
/// same as `/dev/null` reads.
public enum EmptyFile {
    public static let path: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("igvm-mgr-test-empty-\(getpid())")
        FileManager.default.createFile(atPath: url.path, contents: Data())
        return url.path
    }()
}
