import ArgumentParser
import Attestation
import Measure
import Numerals

/// A command-line problem found after parsing: its message and exit status.
struct CommandLineFailure: Error {
    let message: String
    let status: ExitCode

    static func usage(_ message: String) -> CommandLineFailure { .init(message: message, status: ExitStatus.usage) }
    static func failure(_ message: String) -> CommandLineFailure { .init(message: message, status: ExitStatus.failure) }
}

/// Runs a command body, turning its failures into one line on stderr and the exit status: the
/// one mapping of the measuring, signing and attesting commands' errors to exit statuses.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CommandLineFailure {
        Output.error(error.message)
        throw error.status
    } catch let error as ExpectationError {
        Output.error(error.description)
        throw ExitStatus.usage
    } catch let error as IDBlockError {
        Output.error(error.description)
        throw ExitStatus.usage
    } catch let error as MeasurementError {
        Output.error(error.description)
        throw error.kind == .unreadableInput ? ExitStatus.usage : ExitStatus.failure
    }
}

/// `0x…` hexadecimal or decimal, as Python's `int(s, 0)` reads the peer tool's numbers.
func parseUInt64(_ text: String) -> UInt64? {
    let lower = text.lowercased()
    // No sign and no separators (Swift's radix parsing alone would take "0x+5").
    if lower.hasPrefix("0o") { return Numeral.digits(lower.dropFirst(2), radix: 8) }
    if lower.hasPrefix("0b") { return Numeral.digits(lower.dropFirst(2), radix: 2) }
    return Numeral.hexOrDecimal(lower)
}
