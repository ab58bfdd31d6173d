import FuzzerSupport
import JSON
import QMP

/// Small enough that inputs of 8 KiB (`-max_len`) reach the oversized-message path, large
/// enough for real replies (QEMU 10.0.2's `qom-list /machine` is 1.2 KiB).
let maximumMessageSize = 4096

/// libFuzzer entry point: arbitrary bytes as what a QMP peer sends. The stream is split into
/// frames (`QMPFrameDecoder`), each frame decoded as JSON (jansson plus the big-integer pass)
/// and classified both ways: as a server message the client receives and as a command the
/// server receives, through `QMPServerSession` as the server runs it.
///
/// Checked beyond "no trap":
/// - framing does not depend on how the bytes arrive: the stream fed whole and fed in pieces
///   (sizes taken from the first input byte) gives the same frames and the same violation;
/// - every decoded value survives encode → decode unchanged (uint64 above Int64.max included).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = FrameRun(feeding: bytes, pieceSize: size)
    let pieceSize = size == 0 ? 1 : Int(bytes[0] % 16) + 1
    let pieces = FrameRun(feeding: bytes, pieceSize: pieceSize)
    if whole.frames != pieces.frames || whole.violation != pieces.violation {
        fatalError("framing depends on read boundaries (pieces of \(pieceSize)): \(whole) vs \(pieces)")
    }
    var session = QMPServerSession(greeting: QMPGreeting(major: 10, minor: 0, micro: 2, capabilities: ["oob"]))
    for frame in whole.frames {
        _ = session.receive(frame)
        guard case .success(let message) = frame.decode() else { continue }
        _ = try? QMPServerMessage(message)
        _ = try? QMPCommand(parsing: message)
        checkRoundTrip(message)
    }
    return 0
}

/// The frames one decoder yields for a stream fed in pieces of `pieceSize` bytes, up to the end
/// or the first protocol violation (after which a connection is closed).
struct FrameRun: CustomStringConvertible {
    var frames: [QMPFrame] = []
    var violation: QMPProtocolViolation?

    init(feeding bytes: UnsafeBufferPointer<UInt8>, pieceSize: Int) {
        var decoder = QMPFrameDecoder(maximumMessageSize: maximumMessageSize)
        var offset = 0
        repeat {
            let end = min(offset + max(pieceSize, 1), bytes.count)
            // Rebased, not a slice: appending a Slice copies element by element, which with the
            // fuzzer's comparison tracing took a tenth of the time (perf).
            decoder.append(UnsafeBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            do {
                while let frame = try decoder.nextFrame() { frames.append(frame) }
            } catch {
                violation = error
                return
            }
        } while offset < bytes.count
    }

    var description: String { "\(frames.count) frames, violation: \(violation.map(\.reason) ?? "none")" }
}

func checkRoundTrip(_ value: JSON) {
    let encoded: [UInt8]
    do { encoded = try value.encodedBytes() } catch {
        fatalError("a decoded value does not encode: \(error)")
    }
    do {
        let back = try JSON.decode(bytes: encoded)
        if back != value { fatalError("encode → decode changed the value: \(value) → \(back)") }
    } catch {
        fatalError("our own encoding does not decode: \(error) in \(String(decoding: encoded, as: UTF8.self))")
    }
}

@_cdecl("QMPFrameFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
