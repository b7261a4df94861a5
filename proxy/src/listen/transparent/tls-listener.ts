// Listener for TLS redirected by iptables (tcp/443 → this port). The ClientHello is buffered (not
// consumed) until its SNI can be read; the connection is then decided on SNI:443 exactly like a
// CONNECT to that authority: an inspected tool's connection is terminated by the TLS interceptor
// (every request inside is decided again, and Host must agree with the SNI), a passthrough tool
// gets a TCP pipe to the SNI host resolved through the tool's destination check, and anything else
// is closed. No SNI means no destination (REDIRECT hides the original address): refused.

import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../../record/log.ts'
import type { TunnelClient } from '../../pipeline/tunnel.ts'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts'

/** What the listener needs of the chain (pipeline/chain.ts). */
export interface TransparentTunnelHandler {
  tunnel(raw: { via: 'transparent'; authority: string; rawHeaders: string[] }, client: TunnelClient): Promise<void>
  refuseUnread(via: 'transparent', status: number, reason: string, startedAt?: bigint | null): string
}

export interface TransparentTlsOptions {
  pipeline: TransparentTunnelHandler
  logger: Logger
  /** Time allowed to receive the ClientHello (default 10 s); read per connection, so a reload applies it. */
  helloTimeoutMs: () => number
  maxConnections: () => number
}

const TLS_PORT = 443

export function createTransparentTlsListener(opts: TransparentTlsOptions): Server {
  const server = createServer({ pauseOnConnect: false, allowHalfOpen: false })
  server.maxConnections = opts.maxConnections()
  server.prependListener('connection', () => { server.maxConnections = opts.maxConnections() })
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy())
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => {
      refuseEarly(opts, socket, 'no complete ClientHello in time')
    }, opts.helloTimeoutMs())
    timer.unref()
    const onData = (d: Buffer): void => {
      chunks.push(d)
      size += d.length
      const buffered = Buffer.concat(chunks)
      const hello = parseClientHello(buffered)
      if (hello.kind === 'incomplete') {
        if (size > MAX_CLIENT_HELLO_BYTES + 1024) { stop(); refuseEarly(opts, socket, 'ClientHello too large') }
        return
      }
      stop()
      if (hello.kind === 'error') { refuseEarly(opts, socket, `not a readable TLS ClientHello: ${hello.reason}`); return }
      if (hello.sni === null) { refuseEarly(opts, socket, 'TLS without SNI: the destination cannot be known'); return }
      decideAndRoute(opts, socket, buffered, hello.sni)
    }
    const stop = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
    }
    socket.on('data', onData)
    socket.once('close', () => clearTimeout(timer))
  })
  return server
}

function refuseEarly(opts: TransparentTlsOptions, socket: Socket, reason: string): void {
  const id = opts.pipeline.refuseUnread('transparent', 400, reason)
  opts.logger.info('transparent TLS connection refused', { reason, decision_id: id })
  socket.destroy()
}

/** Decided exactly as a CONNECT to sni:443 by the same chain, recorded as transparent. */
function decideAndRoute(opts: TransparentTlsOptions, socket: Socket, hello: Buffer, sni: string): void {
  const client: TunnelClient = {
    socket,
    // The ClientHello already read is the first thing the destination (or the interceptor) gets.
    firstBytes: hello,
    refuse: () => socket.destroy(), // TLS has no way to carry an HTTP error: the connection is closed
    established: () => {},
    intercept: (interceptor, authority, onFailed) => interceptor.terminate(socket, hello, authority, 'transparent', onFailed),
    onClose: (cb) => { socket.once('close', cb) },
  }
  void opts.pipeline.tunnel({ via: 'transparent', authority: `${sni}:${TLS_PORT}`, rawHeaders: [] }, client).catch(() => socket.destroy())
}
