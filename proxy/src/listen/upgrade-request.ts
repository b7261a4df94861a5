// An HTTP/1.1 request carrying an Upgrade offer, as every listener that parses an agent's requests
// receives it (proxy listener, transparent HTTP, intercepted TLS, plain CONNECT tunnels): one
// place, so the same offer is treated the same way wherever it arrives. Before, only the proxy
// listener dropped an h2c offer; inside a tunnel the same request (curl --http2 to an http://
// URL) was refused as "protocol upgrade is not allowed on this route".
//
// - Upgrade: websocket goes to the chain as an upgrade (a route must say upgrade: true).
// - Any other offer (h2c) is optional for a server to honour: it is dropped and the request served
//   as plain HTTP/1.1 on this connection, which then closes (Node has detached its parser).
//   With a body, the offer is refused (400, recorded): the body would have to be read here.

import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Via } from '../classify/toolcall.ts'
import { writeError } from '../pipeline/error-body.ts'

export interface UpgradeHandler<C extends { via: Via }> {
  handle(req: IncomingMessage, res: ServerResponse, ctx: C & { upgrade?: { socket: Duplex; head: Buffer } }): void
  refuseUnread(via: C['via'], status: number, reason: string): string
}

/** Removes an Upgrade offer (and its Connection token and HTTP2-Settings) from a request. */
export function stripUpgradeOffer(req: IncomingMessage): void {
  const raw: string[] = []
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase()
    if (name === 'upgrade' || name === 'http2-settings') continue
    if (name === 'connection') {
      const kept = req.rawHeaders[i + 1]!.split(',').map((t) => t.trim()).filter((t) => t && !/^(upgrade|http2-settings)$/i.test(t))
      if (kept.length > 0) raw.push(req.rawHeaders[i]!, kept.join(', '))
      continue
    }
    raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  }
  req.rawHeaders.splice(0, req.rawHeaders.length, ...raw)
  delete req.headers['upgrade']
  delete req.headers['http2-settings']
}

/** Hands an 'upgrade' event's request to the chain, answering on a response bound to the raw socket. */
export function dispatchUpgrade<C extends { via: Via }>(handler: UpgradeHandler<C>, req: IncomingMessage, socket: Duplex, head: Buffer, ctx: C): void {
  const res = new ServerResponse(req)
  res.assignSocket(socket as Socket)
  res.shouldKeepAlive = false
  if (String(req.headers['upgrade'] ?? '').toLowerCase() === 'websocket') {
    handler.handle(req, res, { ...ctx, upgrade: { socket, head } })
    return
  }
  const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined
  if (!bodyless) {
    const reason = 'upgrade offers with a request body are not supported'
    const id = handler.refuseUnread(ctx.via, 400, reason)
    writeError(res, 400, { code: 'bad_request', reason, decisionId: id })
    return
  }
  stripUpgradeOffer(req)
  handler.handle(req, res, ctx)
}
