// Reads the request headers once (Node's rawHeaders, as llhttp parsed them) into the few facts
// classification needs, refusing every ambiguity a second parser could resolve differently: two
// Host headers, Content-Length with Transfer-Encoding, differing Content-Lengths, a transfer
// coding other than chunked, illegal characters. Also builds the two header views derived from
// them: the exact list sent upstream and the small, credential-free selection the policy sees.

export interface ParsedHeaders {
  /** The client's headers in order, names as spelled, values as parsed. */
  readonly list: readonly (readonly [string, string])[]
  /** The one Host value, or null when absent. */
  readonly host: string | null
  /** The (single, decimal) Content-Length, or null. */
  readonly contentLength: string | null
  /** Transfer-Encoding: chunked was sent (and nothing else). */
  readonly chunked: boolean
  /** The toolgate-task value, or null. */
  readonly taskId: string | null
  /** The Txn-Token value (a task grant, verified by trust/grants.ts), or null. Never forwarded. */
  readonly txnToken: string | null
  /** Lower-cased header names listed in Connection. */
  readonly connectionTokens: ReadonlySet<string>
  /** True when the client asks for a protocol upgrade (Upgrade present and listed in Connection, as Node reads it). */
  readonly upgrade: boolean
}

export type HeadersResult = { ok: true; headers: ParsedHeaders } | { ok: false; status: 400 | 431; reason: string }

/** RFC 9110 token. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 9110 field-value characters (Node hands obs-text over as latin1 code points). */
// eslint-disable-next-line no-control-regex
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const DECIMAL = /^[0-9]{1,16}$/
const TASK_ID = /^[\x21-\x7e]{1,256}$/
/** A compact JWS, bounded (trust/verify.ts refuses longer tokens anyway). */
const TXN_TOKEN = /^[A-Za-z0-9_.-]{1,8192}$/
/** Per header line: ": " and CRLF, as on the wire. */
const LINE_OVERHEAD = 4

/**
 * Never forwarded: hop-by-hop (RFC 9110 7.6.1) plus Expect (Node already answered the 100-continue;
 * the upstream request is sent with its body) and toolgate's own task header.
 */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'toolgate-task', 'txn-token'])
/** Connection may not drop these: doing so would change the framing or the destination upstream. */
const NOT_DROPPABLE = new Set(['host', 'content-length'])

/** Headers the policy may read. Never credentials (authorization, cookie, proxy-authorization, api keys). */
const POLICY_HEADERS = new Set(['accept', 'accept-language', 'content-type', 'content-length', 'content-encoding', 'user-agent', 'x-request-id', 'traceparent', 'origin', 'mcp-protocol-version', 'mcp-session-id'])
const MAX_POLICY_HEADER_VALUE = 1024

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

export function parseHeaders(rawHeaders: readonly string[], maxHeaderBytes: number): HeadersResult {
  if (rawHeaders.length % 2 !== 0) return { ok: false, status: 400, reason: 'malformed header list' }
  const list: [string, string][] = []
  let bytes = 0
  let host: string | null = null
  let hostCount = 0
  const contentLengths: string[] = []
  const transferCodings: string[] = []
  let transferEncodingSeen = false
  const tasks: string[] = []
  const txnTokens: string[] = []
  const connectionTokens = new Set<string>()
  let upgradeHeader = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    const value = rawHeaders[i + 1]!
    bytes += name.length + value.length + LINE_OVERHEAD
    if (bytes > maxHeaderBytes) return { ok: false, status: 431, reason: `request headers exceed ${maxHeaderBytes} bytes` }
    if (!TOKEN.test(name)) return { ok: false, status: 400, reason: 'invalid character in a header name' }
    if (!FIELD_VALUE.test(value)) return { ok: false, status: 400, reason: `invalid character in the value of header ${name}` }
    const lower = name.toLowerCase()
    switch (lower) {
      case 'host':
        hostCount++
        host = value.trim()
        break
      case 'content-length':
        contentLengths.push(value.trim())
        break
      case 'transfer-encoding':
        transferEncodingSeen = true
        transferCodings.push(...splitList(value.toLowerCase()))
        break
      case 'toolgate-task':
        tasks.push(value.trim())
        break
      case 'txn-token':
        txnTokens.push(value.trim())
        break
      case 'connection':
        for (const t of splitList(value)) {
          if (!TOKEN.test(t)) return { ok: false, status: 400, reason: 'invalid token in Connection header' }
          connectionTokens.add(t.toLowerCase())
        }
        break
      case 'upgrade':
        upgradeHeader = true
        break
    }
    list.push([name, value])
  }
  if (hostCount > 1) return { ok: false, status: 400, reason: 'more than one Host header' }
  if (host === '') return { ok: false, status: 400, reason: 'empty Host header' }
  if (transferEncodingSeen && contentLengths.length > 0) return { ok: false, status: 400, reason: 'both Content-Length and Transfer-Encoding are present' }
  if (transferEncodingSeen && (transferCodings.length !== 1 || transferCodings[0] !== 'chunked')) {
    return { ok: false, status: 400, reason: 'Transfer-Encoding other than exactly "chunked"' }
  }
  for (const cl of contentLengths) if (!DECIMAL.test(cl)) return { ok: false, status: 400, reason: 'Content-Length is not a decimal number' }
  if (new Set(contentLengths.map(Number)).size > 1) return { ok: false, status: 400, reason: 'several Content-Length headers with different values' }
  if (tasks.some((t) => !TASK_ID.test(t))) return { ok: false, status: 400, reason: 'invalid toolgate-task header (1-256 printable characters)' }
  if (new Set(tasks).size > 1) return { ok: false, status: 400, reason: 'several toolgate-task headers with different values' }
  if (txnTokens.some((t) => !TXN_TOKEN.test(t))) return { ok: false, status: 400, reason: 'invalid Txn-Token header (a compact JWS of at most 8192 characters)' }
  if (txnTokens.length > 1) return { ok: false, status: 400, reason: 'more than one Txn-Token header' }
  for (const t of connectionTokens) {
    if (NOT_DROPPABLE.has(t)) return { ok: false, status: 400, reason: `Connection header names ${t}, which can not be removed in transit` }
  }
  return {
    ok: true,
    headers: {
      list,
      host,
      contentLength: contentLengths[0] ?? null,
      chunked: transferEncodingSeen,
      taskId: tasks[0] ?? null,
      txnToken: txnTokens[0] ?? null,
      connectionTokens,
      upgrade: upgradeHeader && connectionTokens.has('upgrade'),
    },
  }
}

/**
 * The exact header list to send upstream: Host first (the canonical authority), then the client's
 * end-to-end headers in their order, minus everything hop-by-hop or named in Connection, with one
 * Content-Length. With `allowUpgrade`, Upgrade is kept and Connection: upgrade re-added.
 */
export function upstreamHeaders(h: ParsedHeaders, authority: string, allowUpgrade: boolean): [string, string][] {
  const out: [string, string][] = [['host', authority]]
  let contentLengthSent = false
  for (const [name, value] of h.list) {
    const lower = name.toLowerCase()
    if (lower === 'upgrade' && allowUpgrade) {
      out.push([name, value])
      continue
    }
    if (NOT_FORWARDED.has(lower) || h.connectionTokens.has(lower)) continue
    if (lower === 'content-length') {
      if (contentLengthSent) continue
      contentLengthSent = true
      out.push([name, h.contentLength!])
      continue
    }
    out.push([name, value])
  }
  if (allowUpgrade) out.push(['connection', 'upgrade'])
  return out
}

/** The headers the policy may read: a fixed safe selection, lower-cased, repeated values joined. */
export function policyHeaders(h: ParsedHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of h.list) {
    const lower = name.toLowerCase()
    if (!POLICY_HEADERS.has(lower)) continue
    const joined = out[lower] === undefined ? value : `${out[lower]}, ${value}`
    out[lower] = joined.length > MAX_POLICY_HEADER_VALUE ? joined.slice(0, MAX_POLICY_HEADER_VALUE) : joined
  }
  if (h.contentLength !== null) out['content-length'] = h.contentLength
  return out
}
