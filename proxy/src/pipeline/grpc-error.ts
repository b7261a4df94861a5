// toolgate's own answers to a gRPC call (a denial, a refusal, an upstream failure) in the form
// gRPC clients show: HTTP 200, content-type application/grpc, no message, and the status in
// grpc-status / grpc-message trailers. A plain HTTP 403 would surface in
// grpcio and grpc-js as UNIMPLEMENTED or UNKNOWN "Received http2 header with status: 403",
// losing the reason; this way the client's error carries the code, the reason and the decision
// id. The h2 listener marks the responses of gRPC requests (content-type application/grpc).

import type { ServerResponse } from 'node:http'
import type { ErrorAnswer } from './error-body.ts'

const grpcResponses = new WeakSet<object>()

/** Marks `res` as the answer to a gRPC request (called by the HTTP/2 listener). */
export function markGrpc(res: ServerResponse): void {
  grpcResponses.add(res)
}

export function isGrpc(res: ServerResponse): boolean {
  return grpcResponses.has(res)
}

/** The gRPC status code (grpc/status.h) for toolgate's HTTP status. */
export function grpcCodeFor(status: number): number {
  switch (status) {
    case 400: case 431: return 3 // INVALID_ARGUMENT
    case 401: return 16 // UNAUTHENTICATED
    case 403: case 405: return 7 // PERMISSION_DENIED
    case 404: return 12 // UNIMPLEMENTED
    case 408: case 504: return 4 // DEADLINE_EXCEEDED
    case 413: case 429: return 8 // RESOURCE_EXHAUSTED
    case 499: return 1 // CANCELLED
    case 502: case 503: return 14 // UNAVAILABLE
    default: return status >= 500 ? 13 : 2 // INTERNAL, UNKNOWN
  }
}

/** grpc-message: percent-encoded UTF-8 (gRPC over HTTP/2 spec), bounded. */
export function grpcMessage(text: string): string {
  const bounded = text.length > 1024 ? text.slice(0, 1024) : text
  return Array.from(Buffer.from(bounded, 'utf8'), (b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0'))).join('')
}

/** Writes a trailers-only gRPC answer carrying toolgate's error (kind, reason, decision id). */
export function writeGrpcError(res: ServerResponse, status: number, a: ErrorAnswer, headers: Record<string, string>): void {
  const text = `toolgate ${a.code}: ${a.reason}${a.decisionId ? ` (decision ${a.decisionId})` : ''}`
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/grpc',
    ...(a.decisionId ? { 'toolgate-decision-id': a.decisionId } : {}),
  })
  // In trailers, not in a headers-only answer: every client reads them there (grpc-js takes a
  // headers-only status only when END_STREAM rides on the HEADERS frame itself).
  res.addTrailers({ 'grpc-status': String(grpcCodeFor(status)), 'grpc-message': grpcMessage(text) })
  res.end()
}
