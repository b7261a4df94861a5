// Listener for plain HTTP redirected by iptables (tcp/80 → this port). Requests arrive in origin
// form; classify takes the destination from Host (via 'transparent'). REDIRECT hides the original
// destination address from Node (no SO_ORIGINAL_DST), so Host is the only source of the
// destination, and the original port is known to be 80: the chain refuses a Host naming another
// port (pipeline/listener-checks.ts). This file only turns sockets into requests.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import { createAgentHttpServer } from '../agent-http-server.ts'
import { dispatchUpgrade } from '../upgrade-request.ts'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../../record/log.ts'
import { writeSocketError } from '../../pipeline/error-body.ts'
import { firstRefusal, malformedRequest } from '../malformed.ts'
import { applyHttpLimits } from '../http-limits.ts'
import type { ResolvedConfig } from '../../config/resolved.ts'
import { guardSocket } from '../socket-guard.ts'

export interface TransparentRequestHandler {
  handle(req: IncomingMessage, res: ServerResponse, ctx: { via: 'transparent'; redirectedPort: number; upgrade?: { socket: Duplex; head: Buffer } }): void
  /** Records a request refused before it could be read. */
  refuseUnread(via: 'transparent', status: number, reason: string): string
}

export interface TransparentHttpOptions {
  pipeline: TransparentRequestHandler
  logger: Logger
  /** The config in force: limits are read from it for every new connection (a reload applies them). */
  config: () => ResolvedConfig
}

/** The port iptables redirects to this listener. */
const HTTP_PORT = 80

export function createTransparentHttpListener(opts: TransparentHttpOptions): Server {
  const server = createAgentHttpServer({ inner: false })
  applyHttpLimits(server, opts.config())
  server.prependListener('connection', (socket: Socket) => {
    guardSocket(socket)
    const config = applyHttpLimits(server, opts.config())
    socket.setTimeout(config.timeouts.idle_ms, () => socket.destroy())
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    opts.pipeline.handle(req, res, { via: 'transparent', redirectedPort: HTTP_PORT })
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    dispatchUpgrade(opts.pipeline, req, socket, head, { via: 'transparent' as const, redirectedPort: HTTP_PORT })
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const reason = 'CONNECT is not accepted on the transparent listener; use the proxy listener'
    const id = opts.pipeline.refuseUnread('transparent', 405, reason)
    writeSocketError(socket, 405, { code: 'bad_request', reason, decisionId: id })
  })
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (!firstRefusal(socket)) { socket.destroy(); return }
    const { status, reason } = malformedRequest(err)
    const id = opts.pipeline.refuseUnread('transparent', status, reason)
    writeSocketError(socket, status, { code: 'bad_request', reason, decisionId: id })
  })
  return server
}
