// Stage 7 for tunnels (CONNECT and transparent TLS): a passthrough tool's tunnel is piped as bytes
// to the destination through the tool's destination check. The chain (chain.ts tunnel()) decides
// the tunnel; each listener supplies a TunnelClient saying how it answers its client.

import { connect as netConnect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { checkedLookup } from '../forward/lookup.ts'
import { checkDestination } from '../decide/destination.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { ErrorAnswer } from './error-body.ts'
import type { Failure } from './failure.ts'
import { upstreamOf } from './terminals.ts'
import { connectFailure } from '../forward/upstream-errors.ts'
import type { InterceptFailure } from '../listen/tls/interceptor.ts'

export type TunnelFailure = Failure

/** What the TLS interceptor offers a tunnel (listen/tls/interceptor.ts). */
export interface TunnelInterceptor {
  /** `onFailed` runs once if the connection is not served (handshake failure, timeout, limit). */
  terminate(socket: Duplex, head: Buffer, authority: { host: string; port: number; scheme: 'https' }, via: 'intercepted' | 'transparent', onFailed?: (f: InterceptFailure) => void): void
}

/** The client side of a tunnel, as the listener that accepted it answers it. */
export interface TunnelClient {
  socket: Duplex
  /** Bytes already read from the client (CONNECT head, a transparent ClientHello): sent first. */
  firstBytes: Buffer
  /** Answers a refused tunnel (CONNECT: an HTTP error response; transparent TLS: the connection is closed). */
  refuse(status: number, answer: ErrorAnswer): void
  /** Runs before any upstream byte reaches the client (CONNECT answers its 200 here). */
  established(): void
  /** Hands the connection to the TLS interceptor; `onFailed` runs if it is not served (a failed handshake). */
  intercept(interceptor: TunnelInterceptor, authority: { host: string; port: number; scheme: 'https' }, onFailed?: (f: InterceptFailure) => void): void
  onClose(cb: () => void): void
}

/**
 * Connects to the call's destination (the exact address checked by the tool's destination
 * rules) and pipes bytes both ways. `established` runs before any upstream byte reaches the
 * client (a CONNECT answers its 200 there); `failed` runs once if no connection is made.
 */
export function pipeTunnel(rt: Runtime, call: ToolCall, tunnelClient: TunnelClient, handlers: { established(): void; failed(status: number, failure: TunnelFailure): void }): void {
  const client = tunnelClient.socket
  const firstBytes = tunnelClient.firstBytes
  const upstreamTool = upstreamOf(rt, call)
  if (call.target.hostIsIp) {
    // IP literals skip DNS, and so the checked lookup: check the literal here.
    const refused = checkDestination(call.target.host, upstreamTool.rules)
    if (refused !== null) {
      handlers.failed(403, { kind: 'destination', reason: refused })
      return
    }
  }
  const upstream: Socket = netConnect({ host: call.target.host, port: call.target.port, lookup: checkedLookup(upstreamTool.rules), timeout: rt.config.timeouts.connect_ms })
  let established = false
  // Set once the failure has been reported: a timeout and a later error report it once only.
  let failed = false
  upstream.once('timeout', () => {
    if (established || failed) return
    failed = true
    upstream.destroy()
    handlers.failed(504, { kind: 'upstream_connect_timeout', reason: 'upstream connect timed out' })
  })
  // on, not once: a socket may report more than one error, and every one must be handled.
  upstream.on('error', (err: Error & { code?: string }) => {
    if (established) { client.destroy(); return }
    if (failed) return
    failed = true
    const failure = connectFailure(err)
    handlers.failed(failure.kind === 'destination' ? 403 : 502, failure)
  })
  upstream.once('connect', () => {
    established = true
    upstream.setTimeout(rt.config.timeouts.idle_ms)
    // An established tunnel has no HTTP answer left to give: silence past idle_ms closes both sides.
    upstream.on('timeout', () => { upstream.destroy(); client.destroy() })
    handlers.established()
    if (firstBytes.length > 0) upstream.write(firstBytes)
    upstream.pipe(client)
    client.pipe(upstream)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
}
