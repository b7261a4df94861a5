// Maps what the upstream connection reported (undici errors, socket errors, toolgate's own
// aborts) to one failure kind (pipeline/failure.ts) and the status the agent gets. One place, so
// forwarded requests, upgrades and tunnels name the same event the same way.

import type { FailureKind } from '../pipeline/failure.ts'
import type { UpstreamTimeouts } from './forward.ts'

/** Thrown into undici when a tool's total_ms deadline passes (forward.ts). */
export class TotalTimeoutError extends Error {
  readonly code = 'TOOLGATE_TOTAL_TIMEOUT'
  constructor(ms: number) {
    super(`the call ran past its total timeout of ${ms} ms`)
  }
}

/** Thrown into undici when the agent went away (forward.ts). */
export class ClientAbortedError extends Error {
  readonly code = 'TOOLGATE_CLIENT_ABORTED'
  constructor() {
    super('the agent went away before the call finished')
  }
}

export interface MappedFailure {
  kind: FailureKind
  status: number
  reason: string
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/

/** Codes of a connection attempt that never reached the upstream. */
function connectCode(code: string, message: string): MappedFailure | null {
  if (code === 'TOOLGATE_DESTINATION_BLOCKED') return { kind: 'destination', status: 403, reason: message }
  if (code === 'TOOLGATE_RESOLVE_FAILED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { kind: 'resolve', status: 502, reason: code.startsWith('TOOLGATE') ? message : `upstream name did not resolve (${code})` }
  if (code === 'ECONNREFUSED') return { kind: 'upstream_refused', status: 502, reason: 'upstream refused the connection (ECONNREFUSED)' }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return { kind: 'upstream_unreachable', status: 502, reason: `upstream is unreachable (${code})` }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return { kind: 'upstream_connect_timeout', status: 504, reason: 'upstream connect timed out' }
  if (TLS_CODES.test(code)) return { kind: 'tls', status: 502, reason: `upstream TLS verification failed: ${code}` }
  return null
}

/** A failure of a forwarded request (undici), at any point of the exchange. */
/** The gRPC pool's connect error when the upstream did not choose h2 (forward/pools.ts). */
const UPSTREAM_NOT_H2 = 'TOOLGATE_UPSTREAM_NOT_H2'

export function upstreamFailure(err: unknown, timeouts: UpstreamTimeouts): MappedFailure {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
  const code = e.code ?? ''
  const causeCode = e.cause?.code ?? ''
  const msg = e.message ?? String(err)
  const early = connectCode(code, msg) ?? connectCode(causeCode, e.cause?.message ?? msg)
  if (early !== null) return early
  if (code === UPSTREAM_NOT_H2 || causeCode === UPSTREAM_NOT_H2) return { kind: 'upstream_protocol', status: 502, reason: code === UPSTREAM_NOT_H2 ? msg : e.cause?.message ?? msg }
  switch (code) {
    case 'TOOLGATE_CREDENTIAL_REFLECTED': return { kind: 'credential_reflected', status: 502, reason: msg }
    case 'TOOLGATE_TOTAL_TIMEOUT': return { kind: 'upstream_total_timeout', status: 504, reason: msg }
    case 'TOOLGATE_CLIENT_ABORTED': case 'UND_ERR_ABORTED': case 'ABORT_ERR': return { kind: 'client_aborted', status: 499, reason: 'the agent went away before the call finished' }
    case 'UND_ERR_HEADERS_TIMEOUT': return { kind: 'upstream_headers_timeout', status: 504, reason: `upstream sent no response headers within ${timeouts.responseHeadersMs} ms` }
    case 'UND_ERR_BODY_TIMEOUT': return { kind: 'upstream_idle', status: 504, reason: `upstream response body was silent for ${timeouts.idleMs} ms` }
    case 'ECONNRESET': case 'EPIPE': return { kind: 'upstream_reset', status: 502, reason: `upstream reset the connection (${code})` }
    case 'UND_ERR_SOCKET': case 'UND_ERR_CLOSED': case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return causeCode === 'ECONNRESET' || causeCode === 'EPIPE'
        ? { kind: 'upstream_reset', status: 502, reason: `upstream reset the connection (${causeCode})` }
        : { kind: 'upstream_closed', status: 502, reason: 'upstream closed the connection before the response was complete' }
    default: return { kind: 'upstream_error', status: 502, reason: `upstream error: ${code || causeCode || msg}`.slice(0, 300) }
  }
}

/** A failure to open a raw connection to the upstream (tunnels, upgrades). */
export function connectFailure(err: Error & { code?: string }): { kind: FailureKind; reason: string } {
  const mapped = connectCode(err.code ?? '', err.message)
  if (mapped !== null) return { kind: mapped.kind, reason: mapped.reason }
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return { kind: 'upstream_reset', reason: `upstream reset the connection (${err.code})` }
  return { kind: 'upstream_error', reason: `upstream error: ${err.code ?? err.message}`.slice(0, 300) }
}
