// CONNECT on the proxy listener: turns the socket into a tunnel request for the chain
// (pipeline/chain.ts tunnel()), which decides it on its target (host and port) like any call and
// hands it to the TLS interceptor (inspected tools), to the plain-HTTP tunnel server (http tools,
// listen/plain-tunnel.ts) or pipes it (passthrough tools), as the tunnel's first bytes say. This
// file only says how a CONNECT client is answered.

import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import type { RequestPipeline } from '../pipeline/chain.ts'
import type { TunnelClient } from '../pipeline/tunnel.ts'
import { writeSocketError } from '../pipeline/error-body.ts'

export function handleConnect(pipeline: RequestPipeline, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy())
  const client: TunnelClient = {
    socket,
    firstBytes: head,
    refuse: (status, answer) => writeSocketError(socket, status, answer),
    established: () => { socket.write('HTTP/1.1 200 Connection Established\r\n\r\n') },
    intercept: (interceptor, authority, onFailed) => interceptor.terminate(socket, head, authority, 'intercepted', onFailed),
    onClose: (cb) => { socket.once('close', cb) },
  }
  void pipeline.tunnel({ via: 'connect', authority: req.url ?? '', rawHeaders: req.rawHeaders }, client).catch(() => socket.destroy())
}
