import JSON

/// Splits a QMP byte stream into messages, without any socket.
///
/// QMP is a stream of JSON values, not of lines: QEMU ends its messages with CRLF, but its own
/// parser (`qobject/json-streamer.c`) needs no delimiter and Python `qemu.qmp` sends none. The
/// decoder therefore finds the end of each top-level object or array by counting brackets
/// outside strings, across any number of reads. Whitespace between messages is skipped. Anything
/// else at the top level is garbage: it runs to the next newline and comes out as one frame that
/// fails to decode, so the caller decides (the client disconnects, the server answers with an
/// error as QEMU does).
///
/// There is no line-length limit below `maximumMessageSize` (default 64 MiB; `query-qmp-schema`
/// is ~150 KiB). A message larger than that is a protocol violation: the stream cannot be
/// resynchronised reliably after it.
public struct QMPFrameDecoder: Sendable {
    /// The largest message accepted, in bytes.
    public var maximumMessageSize: Int

    private var buffer: [UInt8] = []
    /// Start of the message being scanned.
    private var start = 0
    /// Next byte to scan.
    private var position = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var inGarbage = false

    public static let defaultMaximumMessageSize = 64 << 20

    public init(maximumMessageSize: Int = QMPFrameDecoder.defaultMaximumMessageSize) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Adds bytes read from the peer.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            position -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received but not yet returned as a frame (whitespace included).
    public var bufferedByteCount: Int { buffer.count - start }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func nextFrame() throws(QMPProtocolViolation) -> QMPFrame? {
        let count = buffer.count
        let found: (Int, Bool)? = buffer.withUnsafeBufferPointer { bytes in
            var i = position
            while i < count {
                let c = bytes[i]
                if inGarbage {
                    i += 1
                    if c == 0x0A { return (i, true) }
                    continue
                }
                if depth == 0 {
                    // Between messages.
                    if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                        i += 1
                        start = i
                        continue
                    }
                    if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                        depth = 1
                        i += 1
                        continue
                    }
                    inGarbage = true
                    i += 1
                    if c == 0x0A { return (i, true) }
                    continue
                }
                i += 1
                if inString {
                    if escaped {
                        escaped = false
                    } else if c == UInt8(ascii: "\\") {
                        escaped = true
                    } else if c == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return (i, false) }
                default: break
                }
            }
            position = i
            return nil
        }
        guard let (end, garbage) = found else {
            if count - start > maximumMessageSize {
                throw QMPProtocolViolation(
                    "message larger than \(maximumMessageSize) bytes (limit: QMPFrameDecoder.maximumMessageSize)")
            }
            return nil
        }
        if end - start > maximumMessageSize {
            throw QMPProtocolViolation("message larger than \(maximumMessageSize) bytes")
        }
        let frame = Array(buffer[start..<end])
        start = end
        position = end
        inGarbage = false
        return garbage ? .garbage(frame) : .value(frame)
    }
}

/// One unit out of `QMPFrameDecoder`.
public enum QMPFrame: Sendable, Hashable {
    /// A complete top-level JSON object or array (not yet decoded).
    case value([UInt8])
    /// Bytes up to a newline that do not start a JSON object or array.
    case garbage([UInt8])

    /// Decodes the frame; garbage and invalid JSON come back as a `JSONDecodingError`-based reason.
    public func decode() -> Result<JSON, QMPProtocolViolation> {
        switch self {
        case .value(let bytes):
            do { return .success(try JSON.decode(bytes: bytes)) } catch {
                return .failure(QMPProtocolViolation("invalid JSON (\(error.message)) in \(Self.excerpt(bytes))"))
            }
        case .garbage(let bytes):
            return .failure(QMPProtocolViolation("not JSON: \(Self.excerpt(bytes))"))
        }
    }

    static func excerpt(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(120), as: UTF8.self)
            .trimmingCharacters(in: "\r\n")
        return "'\(text)'" + (bytes.count > 120 ? "…" : "")
    }
}

/// Encodes one message for the wire: compact JSON followed by CRLF (what QEMU sends; QEMU and
/// qemu.qmp accept it in both directions).
public enum QMPFrameEncoder {
    public static func encode(_ message: JSON) throws(JSONEncodingError) -> [UInt8] {
        var bytes = try message.encodedBytes()
        bytes.append(0x0D)
        bytes.append(0x0A)
        return bytes
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
