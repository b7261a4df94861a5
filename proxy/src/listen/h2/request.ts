// One HTTP/2 request (an h2 stream's header block) checked and turned into the shape the request
// pipeline reads from HTTP/1.1: a Host header and a rawHeaders list without pseudo-headers. The
// chain and its stages never see HTTP/2 specifics; everything h2 can say that h1 cannot is
// decided here, the strict way:
//
// - exactly one each of :method, :scheme (https: the connection is TLS), :path; :authority at
//   most once. No other pseudo-header (:protocol, extended CONNECT, is refused like CONNECT).
// - CONNECT is never a request inside an intercepted connection (the same rule as HTTP/1.1).
// - :path is origin form ("/..."), or "*" for OPTIONS (then refused by classify like h1's "*").
// - :authority and Host, when both are sent, must name the same authority; the one that is sent
//   becomes the Host classify checks against the tunnel (CONNECT target or SNI).
// - Several cookie fields (h2 allows splitting) are joined with "; " (RFC 9113 8.2.3), so an
//   HTTP/1.1 upstream sees one Cookie header, as an h1 client would have sent it.
// - Connection-specific fields (connection, keep-alive, proxy-connection, transfer-encoding,
//   upgrade, te other than "trailers") are malformed in h2 (RFC 9113 8.2.2): refused even if the
//   HTTP/2 library let one through.

import { TOKEN } from '../../classify/headers.ts'

export type H2Check =
  | { ok: true; rawHeaders: string[]; host: string; grpc: boolean }
  | { ok: false; status: 400 | 405; reason: string }

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings'])
const KNOWN_PSEUDO = new Set([':method', ':scheme', ':path', ':authority'])

/** Canonical authority for comparison: lower case, default port 443 made explicit. */
function authorityKey(a: string): string {
  const lower = a.toLowerCase()
  return /:\d+$/.test(lower) && !lower.endsWith(']') ? lower : `${lower}:443`
}

/**
 * Checks one h2 request's raw header list (Node's rawHeaders of an Http2ServerRequest: name,
 * value, ... with pseudo-headers first) and returns the h1-shaped header list to decide on.
 */
export function checkH2Request(rawHeaders: readonly string[]): H2Check {
  const bad = (reason: string): H2Check => ({ ok: false, status: 400, reason })
  if (rawHeaders.length % 2 !== 0) return bad('malformed HTTP/2 header list')
  const pseudo = new Map<string, string>()
  const out: string[] = []
  const cookies: string[] = []
  let host: string | null = null
  let regularSeen = false
  let grpc = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    const value = rawHeaders[i + 1]!
    if (name.startsWith(':')) {
      if (regularSeen) return bad(`HTTP/2 pseudo-header ${name} after a regular header`)
      if (!KNOWN_PSEUDO.has(name)) return name === ':protocol' ? { ok: false, status: 405, reason: 'extended CONNECT (:protocol) is not allowed inside an intercepted connection' } : bad(`unknown HTTP/2 pseudo-header ${JSON.stringify(name.slice(0, 64))}`)
      if (pseudo.has(name)) return bad(`HTTP/2 pseudo-header ${name} sent twice`)
      pseudo.set(name, value)
      continue
    }
    regularSeen = true
    if (name !== name.toLowerCase()) return bad('upper-case character in an HTTP/2 header name')
    if (CONNECTION_SPECIFIC.has(name)) return bad(`connection-specific header ${name} is not allowed in HTTP/2`)
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') return bad('HTTP/2 te header other than "trailers"')
    if (name === 'host') {
      if (host !== null) return bad('more than one Host header')
      host = value
    }
    if (name === 'cookie') { cookies.push(value); continue }
    if (name === 'content-type' && /^application\/grpc(\+|;|$)/i.test(value.trim())) grpc = true
    out.push(name, value)
  }
  const method = pseudo.get(':method')
  if (method === undefined) return bad('HTTP/2 request without :method')
  if (!TOKEN.test(method)) return bad('invalid request method')
  if (method === 'CONNECT') return { ok: false, status: 405, reason: 'CONNECT is not allowed inside an intercepted connection' }
  const scheme = pseudo.get(':scheme')
  if (scheme !== 'https') return bad(scheme === undefined ? 'HTTP/2 request without :scheme' : `HTTP/2 :scheme ${JSON.stringify(scheme.slice(0, 32))} on a TLS connection (expected "https")`)
  const path = pseudo.get(':path')
  if (path === undefined || path === '') return bad('HTTP/2 request without :path')
  if (!path.startsWith('/') && !(path === '*' && method === 'OPTIONS')) return bad('HTTP/2 :path is not origin form ("/...")')
  const authority = pseudo.get(':authority')
  if (authority !== undefined && host !== null && authorityKey(authority) !== authorityKey(host)) {
    return bad(`:authority (${JSON.stringify(authority.slice(0, 255))}) disagrees with the Host header (${JSON.stringify(host.slice(0, 255))})`)
  }
  const decided = authority ?? host
  if (decided === null || decided === '') return bad('HTTP/2 request without :authority or Host')
  // Host first (from :authority when there was no Host field), the rest in order.
  const rawOut = host === null ? ['host', decided, ...out] : out
  if (cookies.length > 0) rawOut.push('cookie', cookies.join('; '))
  return { ok: true, rawHeaders: rawOut, host: decided, grpc }
}
