// Sends one decided, canonical request upstream through the tool's undici pool and streams the
// response back to the client. Never follows redirects (undici's request API does not), strips
// hop-by-hop response headers, enforces body limits both ways, and maps every upstream failure to
// a precise status and failure kind (forward/upstream-errors.ts): 403 (destination refused), 413
// (request body too large), 502 (refused, resolve, TLS, reset), 504 (connect, response-header,
// idle body or total timeout). The tool's timeouts apply per request.

import { Duplex, Transform, Writable, type Readable, type TransformCallback } from 'node:stream'
import { isIP } from 'node:net'
import type { ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import { checkDestination } from '../decide/destination.ts'
import { connectionListed, isHopByHop } from './hop-by-hop.ts'
import type { ToolUpstream, UpstreamPools } from './pools.ts'
import { contentDecoder, type ReflectionGuard } from './reflection-guard.ts'
import { carriesTrailers, endWithTrailers, holdEnd, isGrpcRequest, withGrpcTe } from './trailers.ts'
import { ClientAbortedError, TotalTimeoutError, upstreamFailure, type MappedFailure } from './upstream-errors.ts'
import type { FailureKind } from '../pipeline/failure.ts'

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
  timeouts: UpstreamTimeouts
  /**
   * A response already started that then failed (the upstream went silent, reset, ran past its
   * deadline): may end it with a last word of its own (MCP over SSE: a JSON-RPC answer event,
   * pipeline/mcp-failure.ts) instead of a cut connection; true when it did.
   */
  streamFailure?: (res: ServerResponse, failure: { kind: FailureKind; reason: string }, contentType: string) => boolean
}

export type ForwardFailureKind = FailureKind

/** The call's upstream timeouts (the tool's own, else the global ones: config/timeouts.ts). */
export interface UpstreamTimeouts {
  responseHeadersMs: number
  idleMs: number
  /** 0: no deadline for the whole exchange. */
  totalMs: number
}

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

function classifyError(err: unknown, timeouts: UpstreamTimeouts): MappedFailure {
  if (err instanceof LimitError) return { kind: err.kind, status: err.kind === 'request_too_large' ? 413 : 502, reason: err.message }
  return upstreamFailure(err, timeouts)
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
  // One signal for undici: the agent going away, the tool's total deadline, or a request body
  // over the limit, each with its own reason so the record says which.
  const abort = new AbortController()
  if (body !== null && !Buffer.isBuffer(body)) {
    const limit = byteLimit(input.maxRequestBodyBytes, 'request_too_large')
    // Aborting the request itself: undici's HTTP/2 client does not always end a request whose
    // body stream failed.
    limit.once('error', (err) => abort.abort(err))
    body = body.pipe(limit)
  }
  // gRPC goes over HTTP/2 end to end (its own pool); it cannot go over a cleartext upstream.
  if (isGrpcRequest(input.request.headers) && !input.request.origin.startsWith('https:')) return { status: 502, upstreamStatus: null, upstreamSeconds: null, failure: { kind: 'upstream_protocol', reason: 'gRPC needs HTTP/2 to the upstream, and cleartext (h2c) upstreams are not supported' } }

  const started = process.hrtime.bigint()
  const t = input.timeouts
  const onClientAbort = (): void => abort.abort(new ClientAbortedError())
  if (input.signal.aborted) onClientAbort()
  else input.signal.addEventListener('abort', onClientAbort, { once: true })
  const deadline = t.totalMs > 0 ? setTimeout(() => abort.abort(new TotalTimeoutError(t.totalMs)), t.totalMs) : null
  try {
    return await exchange(input, res, body, abort.signal, started)
  } finally {
    if (deadline !== null) clearTimeout(deadline)
    input.signal.removeEventListener('abort', onClientAbort)
  }
}

async function exchange(input: ForwardInput, res: ServerResponse, body: Readable | Buffer | null, signal: AbortSignal, started: bigint): Promise<ForwardResult> {
  const { request } = input
  const grpc = isGrpcRequest(request.headers)
  // Trailers reach only an h2 client: its response is ended after them (forward/trailers.ts).
  const trailers = carriesTrailers(res)
  const sink: Writable = trailers ? holdEnd(res) : res
  let upstreamStatus: number | null = null
  let upstreamSeconds: number | null = null
  // Set when the response is refused before its headers reach the client (reflection guard).
  let refused: { kind: ForwardFailureKind; reason: string } | null = null
  const discard = (): Writable => new Writable({ write: (_c, _e, cb) => cb() })
  let chainError: Error | null = null
  let upstreamTrailers: Record<string, string | string[] | undefined> | null = null
  let tailDone: Promise<void> | null = null
  // The stage piped into the client response, and what the response is (for streamFailure).
  let lastStage: Duplex | null = null
  let contentType = ''
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
      signal,
      headersTimeout: input.timeouts.responseHeadersMs,
      bodyTimeout: input.timeouts.idleMs,
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
      lastStage = last
      contentType = String(headers['content-type'] ?? '')
      // The exchange is over when the last stage has handed everything to the client (or failed).
      tailDone = new Promise<void>((resolve) => { last.once('end', resolve); last.once('close', resolve); last.once('error', () => resolve()) })
      return stages[0]!
    })
    upstreamTrailers = done.trailers as Record<string, string | string[] | undefined> | null
  } catch (err) {
    const c = classifyError(err, input.timeouts)
    if (upstreamStatus === null) return { status: c.status, upstreamStatus: null, upstreamSeconds: null, failure: { kind: c.kind, reason: c.reason } }
    const failure = { kind: c.kind, reason: c.reason }
    // A started stream may get a last event of its own (nothing more arrives from upstream).
    const ended = lastStage !== null && input.streamFailure !== undefined && !res.destroyed && (() => { (lastStage as Duplex).unpipe(res); return input.streamFailure!(res, failure, contentType) })()
    // Otherwise, headers are already sent: the only honest signal left is to cut the connection.
    if (!ended) res.destroy()
    return { status: upstreamStatus, upstreamStatus, upstreamSeconds, failure }
  }
  if (tailDone !== null) await tailDone
  if (chainError !== null) {
    const c = classifyError(chainError, input.timeouts)
    return { status: upstreamStatus ?? c.status, upstreamStatus, upstreamSeconds, failure: { kind: c.kind, reason: c.reason } }
  }
  if (refused !== null) return { status: 502, upstreamStatus, upstreamSeconds, failure: refused }
  if (trailers && !res.writableEnded && !endWithTrailers(res, upstreamTrailers, input.reflection)) {
    return { status: upstreamStatus ?? 502, upstreamStatus, upstreamSeconds, failure: { kind: 'credential_reflected', reason: 'the upstream response trailers carried the injected credential back' } }
  }
  return { status: upstreamStatus ?? 502, upstreamStatus, upstreamSeconds, failure: null }
}
