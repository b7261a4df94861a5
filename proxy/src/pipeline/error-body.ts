// The one writer of the error answers toolgate itself generates, on every listener (docs/proxy.md
// "Error answers"). The body is the shape common SDKs surface (OpenAI Python/Node, Anthropic,
// most REST clients print error.message):
//
//   {"error":{"message":"toolgate: <reason> (decision <id>)","type":…,"code":…,"decision_id":…}}
//
// and every answer carries the decision id in `x-toolgate-decision-id` and an RFC 9209
// `Proxy-Status` header naming the proxy error type. Answers written straight to a socket
// (CONNECT refusals, unparseable requests, before Node has a response object) also carry the
// reason in the status line's reason phrase, bounded and sanitised, because that is all curl,
// Python's http.client (requests), httpx and Go show of a refused CONNECT. HTTP/1.1 responses
// get the same reason phrase (requests' raise_for_status prints it). Reasons come from
// toolgate's own stages and never carry a credential; anything that reaches a header is reduced
// to printable ASCII, so no agent-supplied byte can split a header or the status line.

import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FailureKind } from './failure.ts'
import { isGrpc, writeGrpcError } from './grpc-error.ts'

/** Why toolgate refused a call itself (a failure after it was allowed is a FailureKind). */
export type DenialCode = 'denied' | 'destination_denied' | 'unknown_tool' | 'bad_request' | 'request_too_large' | 'rate_limited' | 'rate_limit_unavailable' | 'internal_error'

/** `error.code`: the precise word for what happened. */
export type ErrorCode = DenialCode | FailureKind

/** `error.type`: the coarse class, named as the Anthropic/OpenAI APIs name theirs, so SDKs and people map it. */
export type ErrorType = 'permission_error' | 'not_found_error' | 'invalid_request_error' | 'request_too_large' | 'rate_limit_error' | 'timeout_error' | 'upstream_error' | 'api_error'

/** RFC 9209 §2.3 proxy error types toolgate uses. */
export type ProxyErrorType =
  | 'http_request_denied' | 'destination_ip_prohibited' | 'http_request_error' | 'proxy_internal_error'
  | 'dns_error' | 'connection_refused' | 'destination_ip_unroutable' | 'connection_timeout' | 'tls_certificate_error'
  | 'http_response_timeout' | 'connection_read_timeout' | 'connection_terminated' | 'http_response_incomplete'
  | 'http_response_body_size' | 'http_response_content_coding' | 'proxy_internal_response'
  | 'tls_protocol_error' | 'http_protocol_error' | 'destination_unavailable' | 'connection_limit_reached'

/** The body of every toolgate-generated HTTP error answer. */
export interface ErrorBody {
  error: {
    message: string
    type: ErrorType
    code: ErrorCode
    /** Finds the call's decision record; null only when toolgate failed before it had one. */
    decision_id: string | null
    /** Rate-limited calls: when a token is next available. */
    retry_after_s?: number
  }
}

/** What a stage hands the writer. */
export interface ErrorAnswer {
  code: ErrorCode
  /** toolgate's own reason (never agent bytes unchecked, never a credential). */
  reason: string
  decisionId?: string | null
  retryAfterS?: number
}

const CODES: Record<ErrorCode, { type: ErrorType; proxy: ProxyErrorType }> = {
  denied: { type: 'permission_error', proxy: 'http_request_denied' },
  destination_denied: { type: 'permission_error', proxy: 'destination_ip_prohibited' },
  destination: { type: 'permission_error', proxy: 'destination_ip_prohibited' },
  unknown_tool: { type: 'not_found_error', proxy: 'http_request_denied' },
  bad_request: { type: 'invalid_request_error', proxy: 'http_request_error' },
  request_too_large: { type: 'request_too_large', proxy: 'http_request_error' },
  rate_limited: { type: 'rate_limit_error', proxy: 'http_request_denied' },
  rate_limit_unavailable: { type: 'rate_limit_error', proxy: 'proxy_internal_error' },
  internal_error: { type: 'api_error', proxy: 'proxy_internal_error' },
  batch_refused: { type: 'invalid_request_error', proxy: 'http_request_denied' },
  resolve: { type: 'upstream_error', proxy: 'dns_error' },
  upstream_refused: { type: 'upstream_error', proxy: 'connection_refused' },
  upstream_unreachable: { type: 'upstream_error', proxy: 'destination_ip_unroutable' },
  upstream_connect_timeout: { type: 'timeout_error', proxy: 'connection_timeout' },
  tls: { type: 'upstream_error', proxy: 'tls_certificate_error' },
  upstream_headers_timeout: { type: 'timeout_error', proxy: 'http_response_timeout' },
  upstream_idle: { type: 'timeout_error', proxy: 'connection_read_timeout' },
  upstream_total_timeout: { type: 'timeout_error', proxy: 'http_response_timeout' },
  upstream_reset: { type: 'upstream_error', proxy: 'connection_terminated' },
  upstream_closed: { type: 'upstream_error', proxy: 'http_response_incomplete' },
  upstream_error: { type: 'upstream_error', proxy: 'proxy_internal_error' },
  response_too_large: { type: 'upstream_error', proxy: 'http_response_body_size' },
  credential_reflected: { type: 'upstream_error', proxy: 'proxy_internal_response' },
  response_uninspectable: { type: 'upstream_error', proxy: 'http_response_content_coding' },
  upstream_protocol: { type: 'upstream_error', proxy: 'http_protocol_error' },
  client_aborted: { type: 'invalid_request_error', proxy: 'http_request_error' },
  client_tls: { type: 'invalid_request_error', proxy: 'tls_protocol_error' },
  client_timeout: { type: 'timeout_error', proxy: 'http_request_error' },
  tunnel_protocol: { type: 'invalid_request_error', proxy: 'http_protocol_error' },
  upstream_connect: { type: 'upstream_error', proxy: 'destination_unavailable' },
  tunnel_limit: { type: 'rate_limit_error', proxy: 'connection_limit_reached' },
  internal: { type: 'api_error', proxy: 'proxy_internal_error' },
}

/** Longest status-line reason phrase (bytes); clients print it on one line. */
export const MAX_REASON_PHRASE_BYTES = 120
/** Longest Proxy-Status details string (bytes). */
export const MAX_DETAILS_BYTES = 256

/** The error word for a refusal with this HTTP status, when no stage chose a more precise one. */
export function errorCodeFor(status: number): ErrorCode {
  if (status === 404) return 'unknown_tool'
  if (status === 400 || status === 408 || status === 431) return 'bad_request'
  if (status === 413) return 'request_too_large'
  if (status === 500) return 'internal_error'
  return 'denied'
}

/**
 * Printable ASCII only (every other byte, CR, LF and TAB included, becomes a space; runs of
 * spaces collapse), cut to `maxBytes` with a trailing "...". Safe in a status line or a header.
 */
export function headerSafe(text: string, maxBytes: number): string {
  const flat = text.replace(/[^\x20-\x7e]+/g, ' ').replace(/ {2,}/g, ' ').trim()
  return flat.length <= maxBytes ? flat : `${flat.slice(0, Math.max(0, maxBytes - 3)).trimEnd()}...`
}

/** The status line's reason phrase for a toolgate error answer. */
export function reasonPhrase(reason: string): string {
  const safe = headerSafe(reason, MAX_REASON_PHRASE_BYTES)
  return safe === '' ? 'toolgate' : headerSafe(`toolgate: ${safe}`, MAX_REASON_PHRASE_BYTES)
}

/** The RFC 9209 Proxy-Status value: `toolgate; error=<type>; details="<reason> (decision <id>)"`. */
export function proxyStatus(a: ErrorAnswer): string {
  const id = a.decisionId ? ` (decision ${headerSafe(a.decisionId, 64)})` : ''
  const details = headerSafe(a.reason, MAX_DETAILS_BYTES - id.length) + id
  // An sf-string (RFC 8941 §3.3.3): printable ASCII with " and \ escaped.
  return `toolgate; error=${CODES[a.code].proxy}; details="${details.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/** The JSON body of an error answer. */
export function errorBody(a: ErrorAnswer): ErrorBody {
  const id = a.decisionId ?? null
  return {
    error: {
      message: `toolgate: ${a.reason}${id !== null ? ` (decision ${id})` : ''}`,
      type: CODES[a.code].type,
      code: a.code,
      decision_id: id,
      ...(a.retryAfterS !== undefined ? { retry_after_s: a.retryAfterS } : {}),
    },
  }
}

/** The headers every toolgate error answer carries (besides content-type and length). */
function errorHeaders(a: ErrorAnswer): Record<string, string> {
  return {
    'proxy-status': proxyStatus(a),
    ...(a.decisionId ? { 'x-toolgate-decision-id': headerSafe(a.decisionId, 64) } : {}),
    'cache-control': 'no-store',
  }
}

/** Writes the error answer on an HTTP response; a response already started is cut off instead. */
export function writeError(res: ServerResponse, status: number, a: ErrorAnswer, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  // A gRPC client shows only grpc-status and grpc-message (pipeline/grpc-error.ts).
  if (isGrpc(res)) return writeGrpcError(res, status, a, { ...headers, ...errorHeaders(a) })
  const text = JSON.stringify(errorBody(a))
  const all = { ...headers, ...errorHeaders(a), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }
  // HTTP/2 has no reason phrase (Node warns when one is set on an HTTP/2 response).
  if ('stream' in res) res.writeHead(status, all)
  else res.writeHead(status, reasonPhrase(a.reason), all)
  res.end(text)
}

/** Writes the error answer straight to a socket (CONNECT, unparseable requests) and ends it. */
export function writeSocketError(socket: Duplex, status: number, a: ErrorAnswer, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const text = JSON.stringify(errorBody(a))
  const lines = Object.entries({ ...headers, ...errorHeaders(a) }).map(([k, v]) => `${k}: ${headerSafe(v, 1024)}\r\n`).join('')
  const phrase = status >= 400 ? reasonPhrase(a.reason) : (STATUS_CODES[status] ?? 'Error')
  socket.end(`HTTP/1.1 ${status} ${phrase}\r\n${lines}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}
