// HTTP/2 inside an intercepted TLS connection. The interceptor terminates TLS and, when the
// client chose "h2" by ALPN, hands the decrypted socket here instead of to its HTTP/1.1 server.
// One internal, non-listening node:http2 server runs a session per connection; every stream is a
// request checked by h2/request.ts, adapted to the HTTP/1.1 shape at this boundary, and then goes
// through the same pipeline as any HTTP/1.1 request (one record per stream).
//
// Bounded: concurrent streams per connection, header list size and count, session memory, and
// streams the client resets or that get refused (the rapid-reset pattern) end the session.

import { createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { checkH2Request } from './request.ts'
import { writeError } from '../../pipeline/error-body.ts'
import { markGrpc } from '../../pipeline/grpc-error.ts'

export interface H2Limits {
  /** Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number
  /** The request header limit of HTTP/1.1 (classify answers 431 past it). */
  maxHeaderBytes: number
  /** A session with no stream activity for this long is closed. */
  idleTimeoutMs: number
}

export interface H2ConnectionInfo {
  via: 'intercepted' | 'transparent'
  authority: { host: string; port: number; scheme: 'https' }
}

export interface H2RequestSink {
  handle(req: IncomingMessage, res: ServerResponse, ctx: { via: 'intercepted' | 'transparent'; tunnelAuthority: H2ConnectionInfo['authority'] }): void
  refuseUnread(via: 'intercepted' | 'transparent', status: number, reason: string): string
}

/** Header fields per request at most (HTTP/1.1 has no count limit, only size; 256 is generous). */
const MAX_HEADER_PAIRS = 256
/** Per header field, HPACK counts 32 bytes besides name and value (RFC 7541 4.1). */
const HPACK_FIELD_OVERHEAD = 32

export class H2Sessions {
  readonly #sink: H2RequestSink
  #limits: H2Limits
  /** The connection info of each session (session.socket is a proxy, not the TLS socket). */
  readonly #info = new WeakMap<Http2Session, H2ConnectionInfo>()
  /** Set while serve() hands a socket over: Node emits 'session' synchronously inside it. */
  #handing: H2ConnectionInfo | null = null
  readonly #sessions = new Set<Http2Session>()
  readonly #server: Http2Server

  constructor(sink: H2RequestSink, limits: H2Limits) {
    this.#sink = sink
    this.#limits = limits
    this.#server = this.#create()
  }

  applyLimits(limits: H2Limits): void {
    this.#limits = limits
    // Sent in the SETTINGS of every session opened from now on.
    this.#server.updateSettings(this.#settings())
  }

  /** Serves HTTP/2 on a TLS socket whose ALPN protocol is "h2". */
  serve(socket: TLSSocket, info: H2ConnectionInfo): void {
    // A server-side TLSSocket made with `new TLSSocket` keeps secureConnecting true after
    // 'secure' (tls.Server clears it itself before 'secureConnection'); an Http2Session would
    // otherwise wait for a 'secureConnect' that never comes.
    ;(socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false
    this.#handing = info
    try {
      this.#server.emit('connection', socket)
    } finally {
      this.#handing = null
    }
  }

  close(): void {
    for (const s of this.#sessions) s.destroy()
  }

  #settings(): { maxConcurrentStreams: number; maxHeaderListSize: number; enablePush: false; enableConnectProtocol: false } {
    return {
      maxConcurrentStreams: this.#limits.maxConcurrentStreams,
      // Past classify's own 431 limit (name + value + 4 per line) by the HPACK overhead, so the
      // common oversized case still gets a recorded 431; anything larger is reset by the framing.
      maxHeaderListSize: this.#limits.maxHeaderBytes + MAX_HEADER_PAIRS * HPACK_FIELD_OVERHEAD,
      enablePush: false,
      enableConnectProtocol: false,
    }
  }

  #create(): Http2Server {
    const server = createServer({
      settings: this.#settings(),
      maxHeaderListPairs: MAX_HEADER_PAIRS,
      // MB of buffered frames, HPACK state and pending output per session.
      maxSessionMemory: 16,
      // A client resetting or provoking refusals of many streams (CVE-2023-44487 "rapid reset")
      // or sending many invalid frames loses its session.
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      // Bounds ping floods that would otherwise queue acknowledgements.
      maxOutstandingPings: 10,
      unknownProtocolTimeout: 1000,
    })
    server.on('session', (session: Http2Session) => {
      if (this.#handing === null) { session.destroy(); return }
      this.#info.set(session, this.#handing)
      this.#sessions.add(session)
      session.once('close', () => this.#sessions.delete(session))
      session.on('error', () => session.destroy())
      session.setTimeout(this.#limits.idleTimeoutMs, () => session.close())
    })
    server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.#request(req, res))
    return server
  }

  #request(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const info = req.stream.session ? this.#info.get(req.stream.session) : undefined
    if (!info) { req.stream.close(); return }
    // Node types the compat objects apart from http's; the chain only uses what both provide
    // (method, url, headers, rawHeaders, socket, events; writeHead/write/end/destroy).
    const h1req = req as unknown as IncomingMessage
    const h1res = res as unknown as ServerResponse
    req.stream.on('error', () => {})
    const checked = checkH2Request(req.rawHeaders)
    if (checked.ok && checked.grpc) markGrpc(h1res)
    if (!checked.ok) {
      const id = this.#sink.refuseUnread(info.via, checked.status, checked.reason)
      writeError(h1res, checked.status, { code: 'bad_request', reason: checked.reason, decisionId: id })
      req.resume()
      return
    }
    // The pipeline reads Host from rawHeaders (classify) and body presence from headers, as for
    // HTTP/1.1: an h2 body has no framing header, so a stream that did not end with its headers
    // is marked like a chunked h1 body (in req.headers only; nothing is forwarded from there).
    req.rawHeaders.splice(0, req.rawHeaders.length, ...checked.rawHeaders)
    req.headers.host = checked.host
    if (!req.stream.endAfterHeaders && req.headers['content-length'] === undefined) req.headers['transfer-encoding'] = 'chunked'
    // Request trailers have no way upstream (the upstream client sends none): fail closed.
    req.stream.once('trailers', (trailers: Record<string, unknown>) => {
      if (Object.keys(trailers).length > 0) req.destroy(new Error('HTTP/2 request trailers are not forwarded'))
    })
    this.#sink.handle(h1req, h1res, { via: info.via, tunnelAuthority: info.authority })
  }
}
