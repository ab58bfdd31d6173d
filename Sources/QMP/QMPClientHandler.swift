import JSON
import NIOCore

/// The transport side of the client: bytes from the socket → frames → messages → the core.
/// Any protocol violation, socket error or end of file ends the session with that root cause.
final class QMPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let core: QMPClientCore
    private var decoder: QMPFrameDecoder

    init(core: QMPClientCore, maximumMessageSize: Int) {
        self.core = core
        self.decoder = QMPFrameDecoder(maximumMessageSize: maximumMessageSize)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.append($0) }
        do {
            while let frame = try decoder.nextFrame() {
                try core.receive(frame.decode().get())
            }
        } catch {
            core.disconnect(.protocolViolation(error))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.disconnect(.peerClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.disconnect(.ioError(code: (error as? IOError)?.errnoCode, reason: "\(error)"))
        context.close(promise: nil)
    }
}
