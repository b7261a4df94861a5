// After an allowed CONNECT whose traffic toolgate inspects, the tunnel's first bytes say what it
// carries (listen/tunnel-sniff.ts), and only what the allowlist serves at the CONNECT target is
// accepted: a TLS ClientHello goes to the TLS interceptor (or the passthrough pipe) only when a
// tool serves the host:port as https; plain HTTP goes to the plain-tunnel server only when a tool
// serves it as http; h2c prior knowledge and anything else are refused. Every refusal and every
// failure after the 200 (the client's TLS handshake, the upstream connection of a passthrough
// tunnel) is recorded as a call of its own, linked to the CONNECT's record by tunnel_id, with a
// failure kind that says what happened (finish.ts TunnelFailureKind).

import type { Duplex } from 'node:stream'
import { readFirstBytes } from '../listen/tunnel-sniff.ts'
import { writeSocketError } from './error-body.ts'
import type { Failure, TunnelFailureKind } from './finish.ts'
import type { Classified } from '../classify/request.ts'
import type { CompiledTool } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'

type TunnelFailure = { kind: TunnelFailureKind; reason: string }

/** The CONNECT classified as http: the call and tool when a tool serves its target as plain http. */
export function plainTunnelTool(classified: Classified, via: 'connect'): { call: ToolCall; tool: CompiledTool } | null {
  return classified.ok && classified.tool !== null ? { call: { ...classified.call, via }, tool: classified.tool } : null
}

/** host:port of a call's target, for reasons (IPv6 in brackets). */
export function hostPort(call: ToolCall): string {
  const h = call.target.host
  return `${h.includes(':') ? `[${h}]` : h}:${call.target.port}`
}

/** What the tunnel may carry: a handler, or why that protocol is refused at this target. */
export type ProtocolRoute = ((bytes: Buffer) => void) | { refused: string }

export interface FirstBytesRoutes {
  socket: Duplex
  /** Bytes the client sent with its CONNECT (before the 200). */
  head: Buffer
  timeoutMs: number
  tls: ProtocolRoute
  http: ProtocolRoute
  /** Records a refusal or failure (a deny when `refused`); returns the record's id. */
  record(failure: Failure, refused: boolean, status: number): string
}

/** Reads the tunnel's first bytes and hands it to the route they select, or refuses it. */
export async function routeByFirstBytes(r: FirstBytesRoutes): Promise<void> {
  const sniffed = await readFirstBytes(r.socket, r.head, r.timeoutMs)
  if (sniffed.kind === 'closed') { r.socket.destroy(); return }
  const close = (failure: TunnelFailure): void => {
    r.record(failure, true, 0)
    r.socket.destroy()
  }
  if (sniffed.kind === 'timeout') return close({ kind: 'client_timeout', reason: `no TLS ClientHello or HTTP request line within ${r.timeoutMs} ms of the tunnel opening` })
  const first = sniffed.first
  switch (first.kind) {
    case 'tls':
      if (typeof r.tls === 'function') return r.tls(sniffed.bytes)
      return close({ kind: 'tunnel_protocol', reason: `TLS refused in this tunnel: ${r.tls.refused}` })
    case 'http': {
      if (typeof r.http === 'function') return r.http(sniffed.bytes)
      // The client speaks HTTP: it can read the refusal as an HTTP answer.
      const reason = `plain HTTP refused in this tunnel: ${r.http.refused}`
      const id = r.record({ kind: 'tunnel_protocol', reason }, true, 400)
      writeSocketError(r.socket, 400, { code: 'tunnel_protocol', reason, decisionId: id })
      return
    }
    case 'h2c':
      return close({ kind: 'tunnel_protocol', reason: 'HTTP/2 prior knowledge (h2c) is refused in a tunnel' })
    case 'other':
      return close({ kind: 'tunnel_protocol', reason: `refused: the tunnel's first bytes are ${first.reason}` })
  }
}
