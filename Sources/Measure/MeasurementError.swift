import FileAccess
import Platform

/// Why a launch digest could not be computed. The description is one line naming the file,
/// offset or option at fault.
public typealias MeasurementError = KindedError<MeasurementErrorKind>

public enum MeasurementErrorKind: Sendable, Equatable {
    /// A file could not be read at all (exit status 2 in the CLI).
    case unreadableInput
    /// The inputs are readable but unusable together (missing table, bad combination).
    case invalidInput
}

extension KindedError where Kind == MeasurementErrorKind {
    static func invalid(_ description: String) -> MeasurementError { .init(.invalidInput, description) }
}

/// Whole-file reads of the inputs a digest is computed from: regular files only, bounded by what
/// the format allows (`InputFile`), so `/dev/zero` or a FIFO is an error, not an endless read.
public enum FileContents {
    public static func read(_ path: String, limit: Int) throws(MeasurementError) -> [UInt8] {
        do {
            return try InputFile.read(path, limit: limit)
        } catch {
            throw MeasurementError(.unreadableInput, error.description)
        }
    }
}
