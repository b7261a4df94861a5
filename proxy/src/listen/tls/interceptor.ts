// Terminates TLS on a tunnel the proxy decided to inspect (CONNECT to an inspected tool, or a
// redirected TLS connection) with a leaf certificate minted for the tunnel's host, then feeds the
// decrypted connection to an internal, non-listening http.Server. Each request on it (keep-alive
// included) goes to the request pipeline on its own, with the tunnel's authority attached so
// classify can check that Host agrees with it. ALPN offers h2 and http/1.1 (h2 is chosen when the
// client offers it: h2-only clients such as gRPC exist); an h2 connection goes to listen/h2/
// whose streams reach the same pipeline. TLS 1.2 minimum.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import { createAgentHttpServer } from '../agent-http-server.ts'
import { dispatchUpgrade } from '../upgrade-request.ts'
import { TLSSocket } from 'node:tls'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Counter, Gauge, Registry } from 'prom-client'
import { counter, gauge } from '../../record/metric-table.ts'
import type { LeafCache } from './leaf-cache.ts'
import type { Logger } from '../../record/log.ts'
import { writeSocketError } from '../../pipeline/error-body.ts'
import { firstRefusal, malformedRequest } from '../malformed.ts'
import { H2Sessions } from '../h2/server.ts'

export interface TunnelAuthority {
  host: string
  port: number
  scheme: 'https'
}

/** The slice of the request pipeline the interceptor needs (RequestPipeline.handle fits). */
export interface InterceptedRequestHandler {
  handle(req: IncomingMessage, res: ServerResponse, ctx: {
    via: 'intercepted' | 'transparent'
    tunnelAuthority: TunnelAuthority
    upgrade?: { socket: Duplex; head: Buffer }
  }): void
  /** Records a request refused before it could be read; returns its decision id. */
  refuseUnread(via: Via, status: number, reason: string): string
}

export interface InterceptorLimits {
  /** Time allowed for the TLS handshake (default 10 s). */
  handshakeTimeoutMs?: number
  /** A connection with no traffic for this long is closed (default 60 s). */
  idleTimeoutMs?: number
  /** Time to receive a request's headers (default 30 s). */
  headersTimeoutMs?: number
  keepAliveTimeoutMs?: number
  maxHeaderBytes?: number
  /** Most intercepted connections open at once; more are closed right away (default 1024). */
  maxConnections?: number
  /** Concurrent streams per HTTP/2 connection (default 100). */
  maxH2Streams?: number
}

export interface InterceptorOptions {
  leafCache: LeafCache
  pipeline: InterceptedRequestHandler
  logger: Logger
  limits?: InterceptorLimits
  registry?: Registry
}

type Via = 'intercepted' | 'transparent'

/** Why a connection handed to the interceptor was not served (recorded by the caller: pipeline/tunnel-first-bytes.ts). */
export type InterceptFailure = { kind: 'client_tls' | 'client_timeout' | 'tunnel_limit' | 'internal'; reason: string }

interface ConnectionInfo {
  authority: TunnelAuthority
  via: Via
}

export class TlsInterceptor {
  private readonly leafCache: LeafCache
  private readonly pipeline: InterceptedRequestHandler
  private readonly logger: Logger
  private limits: Required<InterceptorLimits>
  private readonly server: Server
  private readonly h2: H2Sessions
  /** Authority of each decrypted connection, looked up by the request's socket. */
  private readonly info = new WeakMap<object, ConnectionInfo>()
  private readonly open = new Set<Duplex>()
  private readonly handshakes: Counter<'result'> | null
  private readonly openGauge: Gauge | null
  private closed = false

  constructor(opts: InterceptorOptions) {
    this.leafCache = opts.leafCache
    this.pipeline = opts.pipeline
    this.logger = opts.logger
    this.limits = {
      handshakeTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      headersTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxHeaderBytes: 32 * 1024,
      maxConnections: 1024,
      maxH2Streams: 100,
      ...opts.limits,
    }
    this.handshakes = opts.registry ? counter(opts.registry, 'toolgate_tls_handshakes_total') : null
    this.openGauge = opts.registry ? gauge(opts.registry, 'toolgate_tls_intercepted_connections') : null
    this.server = this.createInnerServer()
    this.h2 = new H2Sessions(this.pipeline, this.h2Limits())
  }

  private h2Limits(): { maxConcurrentStreams: number; maxHeaderBytes: number; idleTimeoutMs: number } {
    return { maxConcurrentStreams: this.limits.maxH2Streams, maxHeaderBytes: this.limits.maxHeaderBytes, idleTimeoutMs: this.limits.idleTimeoutMs }
  }

  /** Takes over a CONNECT tunnel (after the 200 was written) for an inspected tool. */
  intercept(socket: Duplex, head: Buffer, tunnelAuthority: TunnelAuthority): void {
    this.terminate(socket, head, tunnelAuthority, 'intercepted')
  }

  /**
   * Terminates TLS on `socket` for `authority` and serves the requests inside it. `head` holds
   * bytes already read from the socket (they are replayed first). Used by CONNECT interception
   * and by the transparent TLS listener.
   */
  terminate(socket: Duplex, head: Buffer, authority: TunnelAuthority, via: Via, onFailed?: (f: InterceptFailure) => void): void {
    // Reported and counted once: a timed-out or failed handshake also ends in a close.
    let ended = false
    const fail = (f: InterceptFailure): void => { if (!ended) { ended = true; onFailed?.(f) } }
    if (this.closed || this.open.size >= this.limits.maxConnections) {
      this.handshakes?.inc({ result: 'refused_limit' })
      fail({ kind: 'tunnel_limit', reason: this.closed ? 'toolgate is shutting down' : `more than ${this.limits.maxConnections} intercepted connections open (limits.max_connections)` })
      socket.destroy()
      return
    }
    this.open.add(socket)
    this.openGauge?.inc()
    socket.once('close', () => {
      this.open.delete(socket)
      this.openGauge?.dec()
    })
    socket.on('error', () => socket.destroy())
    socket.pause()
    if (head.length > 0) socket.unshift(head)
    // The bytes of the ClientHello may already be waiting; the whole handshake is bounded.
    const handshakeTimer = setTimeout(() => {
      if (ended) return
      this.handshakes?.inc({ result: 'timeout' })
      fail({ kind: 'client_timeout', reason: `TLS handshake not completed within ${this.limits.handshakeTimeoutMs} ms` })
      socket.destroy()
    }, this.limits.handshakeTimeoutMs)
    handshakeTimer.unref()

    this.leafCache.get(authority.host).then(
      (leaf) => {
        if (socket.destroyed) { clearTimeout(handshakeTimer); return }
        const expected = sniForm(authority.host)
        let sniMismatch: string | null = null
        let secured = false
        const tlsSocket = new TLSSocket(socket as Socket, {
          isServer: true,
          secureContext: leaf.context,
          // Server order wins: h2 whenever the client offers it.
          ALPNProtocols: ['h2', 'http/1.1'],
          minVersion: 'TLSv1.2',
          requestCert: false,
          // SNI, when sent, must name the tunnel's host: otherwise the client believes it talks to
          // one host while toolgate decides on another.
          SNICallback: (servername, cb) => {
            if (sniForm(servername) === expected) cb(null, leaf.context)
            else {
              sniMismatch = servername.slice(0, 255)
              cb(new Error('SNI does not match the tunnel host'), undefined)
            }
          },
        })
        tlsSocket.on('error', (err: Error & { code?: string }) => {
          clearTimeout(handshakeTimer)
          if (secured || ended) { tlsSocket.destroy(); socket.destroy(); return }
          const result = sniMismatch !== null ? 'sni_mismatch' : clientRejected(err) ? 'client_rejected_certificate' : 'failed'
          this.handshakes?.inc({ result })
          const reason = result === 'client_rejected_certificate'
            ? 'the client does not trust the toolgate CA for this host (certificate pinning, or the CA bundle is not installed)'
            : result === 'sni_mismatch' ? `SNI ${JSON.stringify(sniMismatch)} does not match the tunnel host` : (err.code ?? err.message).slice(0, 200)
          this.logger.info('intercepted TLS handshake failed', { via, host: authority.host, port: authority.port, result, reason })
          fail({ kind: 'client_tls', reason: `TLS handshake with the client failed (${result}): ${reason}` })
          tlsSocket.destroy()
          socket.destroy()
        })
        // A client that gives up without an alert (Node's does when it rejects the certificate):
        // its end of the connection closes before the handshake completes. A client that accepts
        // the certificate sends its Finished first; one that closes abruptly before flushing it
        // (destroy() at secureConnect) cannot be told apart, and is recorded the same way.
        const gaveUp = (): void => {
          if (secured || ended) return
          clearTimeout(handshakeTimer)
          this.handshakes?.inc({ result: 'client_closed' })
          fail({ kind: 'client_tls', reason: 'the client closed the connection before completing the TLS handshake (a client that rejects the toolgate CA without an alert, such as Node, does this)' })
          tlsSocket.destroy()
          socket.destroy()
        }
        tlsSocket.once('end', gaveUp)
        tlsSocket.once('close', gaveUp)
        tlsSocket.once('secure', () => {
          clearTimeout(handshakeTimer)
          secured = true
          this.handshakes?.inc({ result: 'ok' })
          this.info.set(tlsSocket, { authority, via })
          tlsSocket.setTimeout(this.limits.idleTimeoutMs, () => tlsSocket.destroy())
          tlsSocket.once('close', () => socket.destroy())
          if (tlsSocket.alpnProtocol === 'h2') this.h2.serve(tlsSocket, { authority, via })
          else this.server.emit('connection', tlsSocket)
        })
      },
      (err: Error) => {
        clearTimeout(handshakeTimer)
        this.handshakes?.inc({ result: 'mint_failed' })
        this.logger.warn('cannot mint a leaf certificate', { host: authority.host.slice(0, 255), reason: err.message })
        fail({ kind: 'internal', reason: 'toolgate could not mint a leaf certificate for the tunnel host' })
        socket.destroy()
      },
    )
  }

  /** Limits from a reloaded config: they apply to every connection intercepted from now on. */
  applyLimits(limits: InterceptorLimits): void {
    this.limits = { ...this.limits, ...limits }
    this.h2.applyLimits(this.h2Limits())
  }

  /** Stops taking new tunnels and closes the open ones. */
  close(): void {
    this.closed = true
    for (const s of this.open) s.destroy()
    this.server.closeAllConnections()
    this.h2.close()
  }

  get openConnections(): number { return this.open.size }

  private createInnerServer(): Server {
    const server = createAgentHttpServer({ inner: true })
    // Read per connection (before Node's own handler sets up the parser), so reloads apply.
    const apply = (): void => {
      ;(server as Server & { maxHeaderSize: number }).maxHeaderSize = this.limits.maxHeaderBytes
      server.headersTimeout = this.limits.headersTimeoutMs
      server.keepAliveTimeout = this.limits.keepAliveTimeoutMs
    }
    apply()
    server.prependListener('connection', apply)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const info = this.info.get(req.socket)
      if (!info) { req.socket.destroy(); return }
      this.pipeline.handle(req, res, { via: info.via, tunnelAuthority: info.authority })
    })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const info = this.info.get(socket)
      if (!info) { socket.destroy(); return }
      dispatchUpgrade(this.pipeline, req, socket, head, { via: info.via, tunnelAuthority: info.authority })
    })
    // A CONNECT inside a tunnel would be a tunnel in a tunnel: never allowed.
    // Refusals before a request can be read are recorded like every other (pipeline/finish.ts).
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      const reason = 'CONNECT is not allowed inside an intercepted tunnel'
      const id = this.pipeline.refuseUnread(this.info.get(socket)?.via ?? 'intercepted', 405, reason)
      writeSocketError(socket, 405, { code: 'bad_request', reason, decisionId: id })
    })
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      if (!firstRefusal(socket)) { socket.destroy(); return }
    const { status, reason } = malformedRequest(err)
      const id = this.pipeline.refuseUnread(this.info.get(socket)?.via ?? 'intercepted', status, reason)
      writeSocketError(socket, status, { code: 'bad_request', reason, decisionId: id })
    })
    return server
  }
}

/** Host as it appears in SNI: lower case, no trailing dot, no IPv6 brackets. */
function sniForm(host: string): string {
  let h = host.toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  return h.endsWith('.') ? h.slice(0, -1) : h
}

/** True when the client aborted the handshake because it does not accept our certificate. */
function clientRejected(err: Error & { code?: string }): boolean {
  return /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR)/.test(err.code ?? '') ||
    /alert (bad certificate|unknown ca|certificate unknown)/i.test(err.message)
}
