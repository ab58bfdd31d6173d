import Foundation

/// Where test inputs live, relative to this package.
public enum TestPaths {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/TestSupport.swift
        return url
    }()

    /// `Tests/Fixtures`: public test data kept in the repository, each folder with a README
    /// naming its source and licence.
    public static let fixtures: URL = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// A fresh private temporary directory.
    public static func makeTemporaryDirectory(_ prefix: String = "igvm-mgr-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
