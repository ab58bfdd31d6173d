// The QMP module: the QEMU Machine Protocol, client and server. See docs/architecture.md.
//
// Layers (protocol separate from transport, like qemu.qmp's protocol.py vs qmp_client.py):
//
//   QMPMessages.swift      message types: QMPGreeting, QMPCommand (execute/exec-oob, id),
//                          QMPServerMessage (success / error / event / greeting),
//                          QMPCommandError (class + desc kept), QMPEvent (name, data, timestamp),
//                          QMPProtocolViolation.
//   QMPFraming.swift       QMPFrameDecoder (byte stream → JSON values, no socket, no line
//                          limit below 64 MiB by default), QMPFrameEncoder.
//   QMPSchema.swift        query-qmp-schema indexed; `pathExists("object-add/arg-type/qom-type/^sev-snp-guest")`
//                          with libvirt's virQEMUQAPISchemaPathExists syntax.
//
// Client (NIO, Unix socket):
//
//   let qmp = try await QMPClient.connect(unixSocket: path)            // greeting + negotiation (oob if offered)
//   let qmp = try await QMPClient.connect(unixSocket: path, configuration: c)  // c.waitForSocket = .seconds(10): QEMU just started
//   let qmp = try await QMPClient.connect(connectedSocket: fd)          // one end of a socketpair
//   let value: JSON = try await qmp.execute("qom-get", ["path": "/machine", "property": "type"], timeout: .seconds(5))
//   try await qmp.stop(); try await qmp.cont(); let s = try await qmp.queryStatus()   // typed wrappers, QMPCommands.swift
//   let sub = qmp.events(named: "SHUTDOWN", "RESET")                     // or events(QMPEventFilter(names:where:), bufferSize:)
//   for try await event in sub { … }                                      // bounded, drop-oldest, sub.droppedCount
//   let cause = await qmp.waitUntilDisconnected()                         // QMPDisconnectCause
//   await qmp.close()
//
//   Errors: QMPCommandError (the server said no: errorClass, desc), QMPClientError
//   (.connectionFailed, .greetingTimedOut, .negotiationFailed, .interrupted(command, cause) =
//   outcome unknown, .timedOut = outcome unknown, .notConnected = not sent, .unexpectedReply),
//   CancellationError when the calling task is cancelled.
//
// Server (the supervisor's QMP-compatible control socket):
//
//   let server = try await QMPServer.listen(unixSocket: path, greeting: QMPGreeting(major: 10, minor: 0, micro: 2)) { request in
//       switch request.command.name {
//       case "query-status": return ["status": "running", "running": true]
//       default: throw QMPCommandError.commandNotFound(request.command.name)
//       }
//   }
//   server.emit(QMPEvent.now("SHUTDOWN", data: ["guest": true, "reason": "guest-shutdown"]))
//   await server.close()
//
//   QMPServerSession is the transport-free state machine underneath (greeting, negotiation,
//   QEMU's wording for protocol errors), usable on any byte stream.
