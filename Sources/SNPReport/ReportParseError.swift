/// Why bytes are not an SEV-SNP attestation report: one line naming what was wrong.
public struct ReportParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not 1184 bytes.
        case wrongSize
        /// A VERSION this parser does not know the layout of.
        case unknownVersion
        /// Text that should have been hex but is not.
        case notHex
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
