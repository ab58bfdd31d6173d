import Platform

/// Why bytes are not an SEV-SNP attestation report: one line naming what was wrong.
public typealias ReportParseError = KindedError<ReportParseErrorKind>

public enum ReportParseErrorKind: Sendable, Equatable {
    /// Not 1184 bytes.
    case wrongSize
    /// A VERSION this parser does not know the layout of.
    case unknownVersion
    /// Text that should have been hex but is not.
    case notHex
}
