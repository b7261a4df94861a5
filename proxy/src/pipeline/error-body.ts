// The one writer of the error bodies toolgate answers with, on every listener: a JSON object
// {error, reason, decision_id} with the decision id that finds the call's record. HTTP answers go
// through a ServerResponse; CONNECT refusals and malformed requests (before Node has a response
// object) are written to the socket as a complete HTTP/1.1 response that closes the connection.
// Reasons come from toolgate's own stages and never carry a credential.

import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { isGrpc, writeGrpcError } from './grpc-error.ts'

export type ErrorKind = 'denied' | 'bad_request' | 'unknown_tool' | 'request_too_large' | 'internal_error' | 'timeout' | 'upstream_error' | (string & {})

export interface ErrorBody {
  error: ErrorKind
  reason: string
  decision_id?: string
  /** Rate-limited calls: when a token is next available. */
  retry_after_s?: number
}

/** The error word for a refusal with this HTTP status, when no stage chose a more precise one. */
export function errorKindFor(status: number): ErrorKind {
  if (status === 404) return 'unknown_tool'
  if (status === 400 || status === 408 || status === 431) return 'bad_request'
  if (status === 413) return 'request_too_large'
  if (status === 504) return 'timeout'
  if (status === 502) return 'upstream_error'
  if (status === 500) return 'internal_error'
  return 'denied'
}

/** Writes the error answer on an HTTP response; a response already started is cut off instead. */
export function writeError(res: ServerResponse, status: number, body: ErrorBody, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  // A gRPC client shows only grpc-status and grpc-message (pipeline/grpc-error.ts).
  if (isGrpc(res)) return writeGrpcError(res, status, body, headers)
  const text = JSON.stringify(body)
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

/** Writes the error answer straight to a socket (CONNECT, unparseable requests) and ends it. */
export function writeSocketError(socket: Duplex, status: number, body: ErrorBody): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${text}`)
}
