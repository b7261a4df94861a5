// Strict parsers for the three request-target forms toolgate receives (RFC 9112 3.2): absolute
// form (forward proxy), origin form (route prefixes, intercepted and transparent requests) and
// authority form (CONNECT), plus the Host header. Deliberately not WHATWG URL: that parser
// repairs input (backslashes to slashes, tabs dropped, hex IPv4 rewritten), and a repair is a
// guess the upstream might not share. These return raw parts; target.ts canonicalises them.

import type { Scheme } from './toolcall.ts'
import { canonicalHost, checkQuery, parsePort, quote } from './target.ts'

export type Fail = { ok: false; reason: string }

export interface Authority {
  host: string
  hostIsIp: boolean
  /** null when the authority has no port. */
  port: number | null
}

/**
 * Parses `host[:port]` (IPv6 in brackets): the one host/authority parser for requests (targets,
 * Host, CONNECT, SNI), listeners and command-line flags. Userinfo is refused: `good.com@evil.com`
 * must not look like good.com. `allowPortZero` is for listen addresses (0: any free port).
 */
export function parseAuthority(raw: string, what: string, opts: { allowPortZero?: boolean } = {}): ({ ok: true } & Authority) | Fail {
  if (raw === '') return { ok: false, reason: `empty ${what}` }
  if (raw.includes('@')) return { ok: false, reason: `userinfo ("...@") in ${what} is not allowed` }
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::([^:]*))?$/.exec(raw)
  if (!m) return { ok: false, reason: `malformed ${what} ${quote(raw)}` }
  const host = canonicalHost(m[1]!)
  if (!host.ok) return { ok: false, reason: `${what}: ${host.reason}` }
  if (m[2] === undefined) return { ok: true, host: host.host, hostIsIp: host.isIp, port: null }
  const port = opts.allowPortZero === true && m[2] === '0' ? 0 : parsePort(m[2])
  if (port === null) return { ok: false, reason: `${what} has an invalid port ${quote(m[2])} (1-65535, no leading zeros)` }
  return { ok: true, host: host.host, hostIsIp: host.isIp, port }
}

export interface PathAndQuery {
  /** The raw path (not yet normalised); '' when the target had none. */
  rawPath: string
  /** The raw query without '?', '' when absent. */
  query: string
}

function splitPathQuery(rest: string): ({ ok: true } & PathAndQuery) | Fail {
  const q = rest.indexOf('?')
  const rawPath = q === -1 ? rest : rest.slice(0, q)
  const query = q === -1 ? '' : rest.slice(q + 1)
  const checked = checkQuery(query)
  if (!checked.ok) return checked
  return { ok: true, rawPath, query }
}

export interface AbsoluteTarget extends PathAndQuery {
  scheme: Scheme
  authority: Authority
}

/** `scheme://authority[/path][?query]`, scheme http or https, no userinfo, no fragment. */
export function parseAbsoluteTarget(url: string): ({ ok: true } & AbsoluteTarget) | Fail {
  if (url.includes('#')) return { ok: false, reason: 'fragment ("#") in request target' }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)(.*)$/s.exec(url)
  if (!m) return { ok: false, reason: `request target ${quote(url)} is not an absolute http(s) URL` }
  const scheme = m[1]!.toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return { ok: false, reason: `unknown scheme ${quote(scheme)} (only http and https)` }
  const authority = parseAuthority(m[2]!, 'target authority')
  if (!authority.ok) return authority
  const rest = m[3]!
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return { ok: false, reason: 'malformed request target' }
  const pq = splitPathQuery(rest)
  if (!pq.ok) return pq
  return { ok: true, scheme, authority: { host: authority.host, hostIsIp: authority.hostIsIp, port: authority.port }, rawPath: pq.rawPath, query: pq.query }
}

/** `/path[?query]`. */
export function parseOriginTarget(url: string): ({ ok: true } & PathAndQuery) | Fail {
  if (url.includes('#')) return { ok: false, reason: 'fragment ("#") in request target' }
  if (!url.startsWith('/')) return { ok: false, reason: `request target ${quote(url)} is not in origin form` }
  return splitPathQuery(url)
}

/** CONNECT's `host:port` (port required, nothing else). */
export function parseAuthorityTarget(url: string): ({ ok: true; host: string; hostIsIp: boolean; port: number }) | Fail {
  if (/[/?#]/.test(url)) return { ok: false, reason: 'CONNECT target must be host:port, without path, query or scheme' }
  const a = parseAuthority(url, 'CONNECT target')
  if (!a.ok) return a
  if (a.port === null) return { ok: false, reason: 'CONNECT target must name a port' }
  return { ok: true, host: a.host, hostIsIp: a.hostIsIp, port: a.port }
}
