// Plain HTTP inside a CONNECT tunnel (Node with NODE_USE_ENV_PROXY=1, undici's ProxyAgent and
// others tunnel http:// URLs too). The tunnel's socket is fed to an internal, non-listening
// http.Server exactly as the TLS interceptor feeds its decrypted streams, so Node's strict parser
// frames every request (keep-alive and pipelining included), and each request goes to the chain
// on its own with the tunnel's authority and scheme http attached: classify refuses a Host or an
// absolute-form target that names anything but the CONNECT target, and the tool match uses http.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ResolvedConfig } from '../config/resolved.ts'
import { writeSocketError } from '../pipeline/error-body.ts'
import { malformedRequest } from './malformed.ts'
import { applyHttpLimits } from './http-limits.ts'
import { idleBound } from './socket-guard.ts'
import { createAgentHttpServer } from './agent-http-server.ts'
import { dispatchUpgrade } from './upgrade-request.ts'

export interface PlainTunnelAuthority {
  host: string
  port: number
  scheme: 'http'
}

/** The slice of the request pipeline a plain tunnel needs (RequestPipeline fits). */
export interface PlainTunnelHandler {
  handle(req: IncomingMessage, res: ServerResponse, ctx: { via: 'intercepted'; tunnelAuthority: PlainTunnelAuthority; upgrade?: { socket: Duplex; head: Buffer } }): void
  refuseUnread(via: 'intercepted', status: number, reason: string): string
}

export class PlainTunnelServer {
  readonly #server: Server
  readonly #handler: PlainTunnelHandler
  readonly #config: () => ResolvedConfig
  /** The CONNECT authority of each tunnel, looked up by the request's socket. */
  readonly #authority = new WeakMap<object, PlainTunnelAuthority>()

  constructor(handler: PlainTunnelHandler, config: () => ResolvedConfig) {
    this.#handler = handler
    this.#config = config
    this.#server = this.#create()
  }

  /**
   * Serves the HTTP requests in `socket` (a CONNECT tunnel whose 200 was written) as requests to
   * `authority`. `bytes` were read from it while its first bytes were inspected: replayed first.
   */
  serve(socket: Duplex, bytes: Buffer, authority: PlainTunnelAuthority): void {
    this.#authority.set(socket, authority)
    idleBound(socket, this.#config().timeouts.idle_ms)
    if (bytes.length > 0) socket.unshift(bytes)
    this.#server.emit('connection', socket)
    socket.resume()
  }

  #create(): Server {
    const server = createAgentHttpServer({ inner: true })
    // Limits from the config in force when the tunnel is served (a reload applies them).
    server.prependListener('connection', () => { applyHttpLimits(server, this.#config()) })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const authority = this.#authority.get(req.socket)
      if (!authority) { req.socket.destroy(); return }
      this.#handler.handle(req, res, { via: 'intercepted', tunnelAuthority: authority })
    })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const authority = this.#authority.get(socket)
      if (!authority) { socket.destroy(); return }
      dispatchUpgrade(this.#handler, req, socket, head, { via: 'intercepted' as const, tunnelAuthority: authority })
    })
    // A CONNECT inside a tunnel would be a tunnel in a tunnel: never allowed.
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      const reason = 'CONNECT is not allowed inside a tunnel'
      const id = this.#handler.refuseUnread('intercepted', 405, reason)
      writeSocketError(socket, 405, { code: 'bad_request', reason, decisionId: id })
    })
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      const { status, reason } = malformedRequest(err)
      const id = this.#handler.refuseUnread('intercepted', status, reason)
      writeSocketError(socket, status, { code: 'bad_request', reason, decisionId: id })
    })
    return server
  }
}
