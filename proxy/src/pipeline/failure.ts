// What went wrong after a call was allowed: the one typed list of failure kinds that records
// (`failure.kind`), the upstream metric's `outcome` label and error answers use. Each kind says
// what happened, not where in the code it was noticed: a body silent past its idle timeout is
// `upstream_idle`, never `connect`. docs/records.md lists them; a new kind goes here and there.

export const FAILURE_KINDS = [
  // Refused by toolgate on the way
  'destination', // the resolved address is not allowed for the tool (private, metadata, ...)
  'request_too_large',
  'response_too_large',
  'credential_reflected',
  'response_uninspectable',
  'batch_refused',
  // Reaching the upstream
  'resolve', // DNS failed
  'upstream_refused', // TCP connection refused
  'upstream_unreachable', // no route to the host or network
  'upstream_connect_timeout',
  'tls', // the upstream certificate did not verify
  // After the request was sent
  'upstream_headers_timeout',
  'upstream_idle', // the response body (or tunnel) was silent past idle_ms
  'upstream_total_timeout', // the whole exchange ran past total_ms
  'upstream_reset', // ECONNRESET / EPIPE
  'upstream_closed', // the upstream closed the connection before the response was complete
  'upstream_error', // anything else the upstream connection reported (its code in the reason)
  // The agent
  'client_aborted',
  // After an allowed CONNECT (or transparent TLS connection), decided by its first bytes
  // (pipeline/tunnel-first-bytes.ts): the agent's TLS handshake with toolgate failed; no first
  // bytes or handshake in time; a protocol the target is not served as; a passthrough tunnel
  // opened before its first bytes could not reach the upstream; too many intercepted
  // connections; toolgate could not serve it (a leaf certificate could not be minted).
  'client_tls',
  'client_timeout',
  'tunnel_protocol',
  'upstream_connect',
  'tunnel_limit',
  'internal',
] as const

export type FailureKind = (typeof FAILURE_KINDS)[number]

/** The kinds of a failure inside an opened tunnel. */
export type TunnelFailureKind = Extract<FailureKind, 'client_tls' | 'client_timeout' | 'tunnel_protocol' | 'upstream_connect' | 'tunnel_limit' | 'internal'>

export interface Failure {
  kind: FailureKind
  reason: string
}

/** Failures that happen only after the request reached the upstream (it may have acted on it). */
const AFTER_SEND: ReadonlySet<FailureKind> = new Set<FailureKind>(['upstream_headers_timeout', 'upstream_idle', 'upstream_total_timeout', 'upstream_reset', 'upstream_closed', 'upstream_error', 'response_too_large', 'credential_reflected', 'response_uninspectable'])

/** Failures where the upstream could not be reached: a retry at once would meet the same. */
const UNAVAILABLE: ReadonlySet<FailureKind> = new Set<FailureKind>(['resolve', 'upstream_refused', 'upstream_unreachable', 'upstream_connect_timeout'])

/** RFC 9231 §9.2.2 idempotent methods: repeating them has the effect of sending them once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** Seconds a client is asked to wait before retrying a call whose upstream was unreachable. */
export const UNAVAILABLE_RETRY_AFTER_S = 5

/**
 * Retry advice for a failed call (docs/proxy.md "Retries"): `x-should-retry: false` when the
 * upstream may already have acted on a request that is not safe to repeat (SDKs such as OpenAI's
 * and Anthropic's honour it and would otherwise send the call again), `Retry-After` when the
 * upstream could not be reached and an immediate retry is premature.
 */
export function retryAdvice(kind: FailureKind, method: string): Record<string, string> {
  if (AFTER_SEND.has(kind) && !IDEMPOTENT.has(method.toUpperCase())) return { 'x-should-retry': 'false' }
  if (UNAVAILABLE.has(kind)) return { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) }
  return {}
}

/** Whether an upstream failure means the upstream may have received and acted on the call. */
export function mayHaveActed(kind: FailureKind): boolean {
  return AFTER_SEND.has(kind)
}
