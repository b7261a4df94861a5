// Sends one decided, canonical request upstream through the tool's undici pool and streams the
// response back to the client. Never follows redirects (undici's request API does not), strips
// hop-by-hop response headers, enforces body limits both ways, and maps every upstream failure to
// a precise status: 403 (destination refused), 413 (request body too large), 502 (connect,
// resolve, TLS, reset), 504 (connect or response-header timeout).

import { Duplex, Transform, Writable, type Readable, type TransformCallback } from 'node:stream'
import { isIP } from 'node:net'
import type { ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import { checkDestination } from '../decide/destination.ts'
import { connectionListed, isHopByHop } from './hop-by-hop.ts'
import type { ToolUpstream, UpstreamPools } from './pools.ts'
import { contentDecoder, type ReflectionGuard } from './reflection-guard.ts'
import { carriesTrailers, endWithTrailers, holdEnd, isGrpcRequest, withGrpcTe } from './trailers.ts'
import { UPSTREAM_NOT_H2 } from './pools.ts'

export interface UpstreamRequest {
  /** scheme://host:port of the destination (canonical). */
  origin: string
  /** Canonical path plus '?' + query when there is one. */
  path: string
  method: string
  /** Exactly the headers to send (Host included, hop-by-hop removed, credentials injected). */
  headers: [string, string][]
}

export interface ForwardInput {
  pools: UpstreamPools
  tool: ToolUpstream
  request: UpstreamRequest
  /** Client body stream, a buffered body, or null for none. */
  body: Readable | Buffer | null
  maxRequestBodyBytes: number
  maxResponseBodyBytes: number
  /** Aborted when the client goes away. */
  signal: AbortSignal
  /** Optional transform for the response body (MCP tools/list filtering). */
  responseTransform?: (status: number, headers: Record<string, string | string[]>) => Transform | null
  /** Set when a credential was injected: keeps it out of the response (forward/reflection-guard.ts). */
  reflection?: ReflectionGuard
}

export type ForwardFailureKind = 'destination' | 'request_too_large' | 'resolve' | 'connect' | 'tls' | 'timeout' | 'reset' | 'aborted' | 'response_too_large' | 'credential_reflected' | 'response_uninspectable' | 'upstream_protocol'

export interface ForwardResult {
  /** Status sent to the client (the upstream's, or ours on failure). */
  status: number
  upstreamStatus: number | null
  /** Seconds from dispatch to upstream response headers. */
  upstreamSeconds: number | null
  failure: { kind: ForwardFailureKind; reason: string } | null
}

class LimitError extends Error {
  readonly kind: 'request_too_large' | 'response_too_large'
  constructor(kind: 'request_too_large' | 'response_too_large', message: string) {
    super(message)
    this.kind = kind
  }
}

function byteLimit(max: number, kind: 'request_too_large' | 'response_too_large'): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length
      if (seen > max) cb(new LimitError(kind, `${kind === 'request_too_large' ? 'request' : 'response'} body exceeds ${max} bytes`))
      else cb(null, chunk)
    },
  })
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/

function classifyError(err: unknown): { kind: ForwardFailureKind; status: number; reason: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string }; kind?: string }
  if (err instanceof LimitError) return { kind: err.kind, status: err.kind === 'request_too_large' ? 413 : 502, reason: err.message }
  const code = e.code ?? ''
  const causeCode = e.cause?.code ?? ''
  const msg = e.message ?? String(err)
  if (code === UPSTREAM_NOT_H2 || causeCode === UPSTREAM_NOT_H2) return { kind: 'upstream_protocol', status: 502, reason: e.code === UPSTREAM_NOT_H2 ? msg : e.cause?.message ?? msg }
  if (code === 'TOOLGATE_CREDENTIAL_REFLECTED') return { kind: 'credential_reflected', status: 502, reason: msg }
  if (code === 'TOOLGATE_DESTINATION_BLOCKED' || causeCode === 'TOOLGATE_DESTINATION_BLOCKED') return { kind: 'destination', status: 403, reason: msg }
  if (code === 'TOOLGATE_RESOLVE_FAILED' || causeCode === 'TOOLGATE_RESOLVE_FAILED') return { kind: 'resolve', status: 502, reason: msg }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'timeout', status: 504, reason: 'upstream connect timed out' }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { kind: 'timeout', status: 504, reason: 'upstream did not send response headers in time' }
  if (code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout', status: 504, reason: 'upstream body stalled' }
  if (TLS_CODES.test(code) || TLS_CODES.test(causeCode)) return { kind: 'tls', status: 502, reason: `upstream TLS verification failed: ${code || causeCode}` }
  if (code === 'ECONNREFUSED') return { kind: 'connect', status: 502, reason: 'upstream refused the connection' }
  if (code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return { kind: 'aborted', status: 499, reason: 'client went away' }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return { kind: 'reset', status: 502, reason: 'upstream closed the connection' }
  return { kind: 'connect', status: 502, reason: `upstream error: ${code || msg}` }
}

function responseHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(([] as string[]).concat(raw['connection'] ?? []))
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || name.startsWith(':') || isHopByHop(name) || listed.has(name)) continue
    out[name] = value
  }
  return out
}

export async function forward(input: ForwardInput, res: ServerResponse): Promise<ForwardResult> {
  const { request } = input
  const host = new URL(request.origin).hostname.replace(/^\[|\]$/g, '')
  // IP-literal origins skip DNS (and so the checked lookup): check the literal here.
  if (isIP(host)) {
    const refused = checkDestination(host, input.tool.rules)
    if (refused !== null) return { status: 403, upstreamStatus: null, upstreamSeconds: null, failure: { kind: 'destination', reason: refused } }
  }

  let body: Readable | Buffer | null = input.body
  // A body over the limit aborts the upstream request itself: undici's HTTP/2 client does not
  // always end the request when its body stream fails, which left the exchange hanging.
  const abort = new AbortController()
  const onClientGone = (): void => abort.abort(input.signal.reason)
  if (input.signal.aborted) onClientGone()
  else input.signal.addEventListener('abort', onClientGone, { once: true })
  if (body !== null && !Buffer.isBuffer(body)) {
    const limit = byteLimit(input.maxRequestBodyBytes, 'request_too_large')
    limit.once('error', (err) => abort.abort(err))
    body = body.pipe(limit)
  }

  // gRPC goes over HTTP/2 end to end (its own pool); trailers reach only an h2 client.
  const grpc = isGrpcRequest(request.headers)
  if (grpc && !request.origin.startsWith('https:')) return { status: 502, upstreamStatus: null, upstreamSeconds: null, failure: { kind: 'upstream_protocol', reason: 'gRPC needs HTTP/2 to the upstream, and cleartext (h2c) upstreams are not supported' } }
  const trailers = carriesTrailers(res)
  const sink: Writable = trailers ? holdEnd(res) : res

  const started = process.hrtime.bigint()
  let upstreamStatus: number | null = null
  let upstreamSeconds: number | null = null
  // Set when the response is refused before its headers reach the client (reflection guard).
  let refused: { kind: ForwardFailureKind; reason: string } | null = null
  const discard = (): Writable => new Writable({ write: (_c, _e, cb) => cb() })
  let chainError: Error | null = null
  let upstreamTrailers: Record<string, string | string[] | undefined> | null = null
  let tailDone: Promise<void> | null = null
  try {
    // undici's stream() writes the body straight into the Writable the factory returns: for a
    // response whose declared length is within the limit that is the client response itself
    // (undici enforces the declared length); otherwise a byte limit (and the MCP filter) sit
    // in between.
    const done = await input.pools.get(input.tool, request.origin, grpc ? 'h2' : 'any').stream({
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers: (grpc ? withGrpcTe(request.headers) : request.headers).flat(),
      body,
      signal: abort.signal,
    }, ({ statusCode, headers: raw }) => {
      upstreamStatus = statusCode
      upstreamSeconds = Number(process.hrtime.bigint() - started) / 1e9
      const headers = responseHeaders(raw)
      const guard = input.reflection
      // The guard reads the body without its content-coding; one it cannot undo is refused.
      const decoder = guard ? contentDecoder(headers['content-encoding']) : null
      if (decoder !== null && !(decoder instanceof Duplex)) {
        refused = { kind: 'response_uninspectable', reason: `response content-encoding ${JSON.stringify(decoder.unsupported)} cannot be inspected for the injected credential` }
        return discard()
      }
      if (guard && guard.headers(headers) === 'block') {
        refused = { kind: 'credential_reflected', reason: 'the upstream response headers carried the injected credential back' }
        return discard()
      }
      if (decoder) {
        delete headers['content-encoding']
        delete headers['content-length']
      }
      const extra = input.responseTransform?.(statusCode, headers) ?? null
      if (extra) delete headers['content-length']
      res.writeHead(statusCode, headers)
      const declared = typeof headers['content-length'] === 'string' ? Number(headers['content-length']) : NaN
      // Stages between undici and the client, in order; none at all for a plain response whose
      // declared length is within the limit (undici enforces the declared length).
      const stages: Duplex[] = []
      if (decoder) stages.push(decoder)
      if (decoder || extra !== null || !(declared <= input.maxResponseBodyBytes)) stages.push(byteLimit(input.maxResponseBodyBytes, 'response_too_large'))
      if (guard) stages.push(guard.body())
      if (extra) stages.push(extra)
      if (stages.length === 0) return sink
      for (let i = 0; i + 1 < stages.length; i++) stages[i]!.pipe(stages[i + 1]!)
      stages[stages.length - 1]!.pipe(sink)
      // A failure inside the chain must end the exchange, not leave the client waiting; it is
      // remembered, since it may come after undici has finished writing into the first stage.
      const fail = (err: Error): void => { chainError ??= err; stages[0]!.destroy(err); res.destroy() }
      for (const stage of stages.slice(1)) stage.on('error', fail)
      const last = stages[stages.length - 1]!
      // The exchange is over when the last stage has handed everything to the client (or failed).
      tailDone = new Promise<void>((resolve) => { last.once('end', resolve); last.once('close', resolve); last.once('error', () => resolve()) })
      return stages[0]!
    })
    upstreamTrailers = done.trailers as Record<string, string | string[] | undefined> | null
  } catch (err) {
    const c = classifyError(err)
    if (upstreamStatus === null) return { status: c.status, upstreamStatus: null, upstreamSeconds: null, failure: { kind: c.kind, reason: c.reason } }
    // Headers are already sent: the only honest signal left is to cut the connection.
    res.destroy()
    return { status: upstreamStatus, upstreamStatus, upstreamSeconds, failure: { kind: c.kind, reason: c.reason } }
  }
  if (tailDone !== null) await tailDone
  if (chainError !== null) {
    const c = classifyError(chainError)
    return { status: upstreamStatus ?? c.status, upstreamStatus, upstreamSeconds, failure: { kind: c.kind, reason: c.reason } }
  }
  if (refused !== null) return { status: 502, upstreamStatus, upstreamSeconds, failure: refused }
  if (trailers && !res.writableEnded && !endWithTrailers(res, upstreamTrailers, input.reflection)) {
    return { status: upstreamStatus ?? 502, upstreamStatus, upstreamSeconds, failure: { kind: 'credential_reflected', reason: 'the upstream response trailers carried the injected credential back' } }
  }
  return { status: upstreamStatus ?? 502, upstreamStatus, upstreamSeconds, failure: null }
}
