// classify(): one request as Node parsed it → the canonical ToolCall the decision is made on, and
// the exact canonical request forwarded if it is allowed. The two are built from the same parsed
// values here and nowhere else, so what is decided is what is sent. Ambiguity is refused with a
// precise reason (400), an unknown route-prefix tool with 404, oversized headers with 431.

import type { Access, Classification, MatchedRoute, Scheme, Target, ToolCall, Via } from './toolcall.ts'
import type { Allowlist, CompiledTool, RouteMatch } from './allowlist.ts'
import { canonicalHost, defaultPort, formatAuthority, normalisePath, quote } from './target.ts'
import { parseHeaders, policyHeaders, upstreamHeaders, TOKEN, type ParsedHeaders } from './headers.ts'
import { lenientSegments } from './path-canonical.ts'
import { DEFAULT_HINTS, withoutOverrideHeaders, withoutOverrideParams, type OverrideHints } from '../forward/override-hints.ts'
import { parseAbsoluteTarget, parseAuthority, parseAuthorityTarget, parseOriginTarget, type Authority } from './request-target.ts'

export interface RawRequest {
  via: Via
  method: string
  /** Request-target exactly as Node parsed it (absolute form for the forward proxy, origin form for route/intercepted/transparent, authority form for CONNECT). */
  url: string
  /** Node's req.rawHeaders (name, value, name, value, ...). */
  rawHeaders: string[]
  /** For 'intercepted': the CONNECT target the tunnel was opened for; for transparent TLS: the SNI and port. Host must agree with it. */
  tunnelAuthority?: { host: string; port: number; scheme: Scheme }
  /** For CONNECT: the scheme its target is matched as (default https; http for the plain HTTP a tunnel may carry). */
  connectScheme?: Scheme
  /** The request's HTTP version as parsed ("1.1", "1.0"); HTTP/1.1 requires a Host header. */
  httpVersion?: string
}

export interface ClassifyOptions {
  allowlist: Allowlist
  newId: () => string
  maxHeaderBytes: number
  /** Method and path override hints removed before forwarding (forward/override-hints.ts); default list when absent. */
  overrideHints?: OverrideHints
}

export interface UpstreamRequest {
  /** scheme://host:port, canonical (port always written). */
  origin: string
  /** Canonical path, plus '?' + query when there is one ('' for CONNECT). */
  path: string
  method: string
  /** Exactly what to send: Host = canonical authority, hop-by-hop and toolgate-task removed. */
  headers: [string, string][]
}

export type Classified =
  | { ok: true; call: ToolCall; tool: CompiledTool | null; routeMatch: RouteMatch | null; upstream: UpstreamRequest; txnToken: string | null }
  | { ok: false; status: 400 | 403 | 404 | 431; reason: string; id: string; partial?: Partial<ToolCall> }

type Refusal = { ok: false; status: 400 | 404; reason: string }
/** Where the request goes, before allowlist matching. */
interface Resolved {
  ok: true
  via: Via
  target: Target
  /** Set for /t/<tool>/ route prefixes: the tool is named, not looked up by destination. */
  namedTool: CompiledTool | null
}

const ROUTE_PREFIX = /^\/t\/([^/?]*)(\/[^?]*)?(\?.*)?$/s

function bad(reason: string): Refusal {
  return { ok: false, status: 400, reason }
}

function sameAuthority(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port
}

function describe(a: { host: string; port: number }): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
}

function buildTarget(scheme: Scheme, a: { host: string; hostIsIp: boolean; port: number }, rawPath: string, query: string): { ok: true; target: Target } | Refusal {
  const p = normalisePath(rawPath === '' ? '/' : rawPath)
  if (!p.ok) return bad(p.reason)
  return { ok: true, target: { scheme, host: a.host, hostIsIp: a.hostIsIp, port: a.port, path: p.path, query } }
}

/** The tunnel's authority in canonical form (an SNI name may arrive in any case, with a trailing dot). */
function tunnelOf(raw: RawRequest): ({ ok: true; value: { scheme: Scheme; host: string; hostIsIp: boolean; port: number } | null }) | Refusal {
  const t = raw.tunnelAuthority
  if (!t) return { ok: true, value: null }
  const h = canonicalHost(t.host)
  if (!h.ok) return bad(`tunnel authority: ${h.reason}`)
  return { ok: true, value: { scheme: t.scheme, host: h.host, hostIsIp: h.isIp, port: t.port } }
}

/** The Host header, parsed; null when absent. */
function hostHeader(h: ParsedHeaders): ({ ok: true; value: Authority | null }) | Refusal {
  if (h.host === null) return { ok: true, value: null }
  const a = parseAuthority(h.host, 'Host header')
  return a.ok ? { ok: true, value: { host: a.host, hostIsIp: a.hostIsIp, port: a.port } } : bad(a.reason)
}

/** An absolute-form target, checked against Host and (inside a tunnel) the tunnel's authority. */
function resolveAbsolute(raw: RawRequest, h: ParsedHeaders, via: Via): Resolved | Refusal {
  const t = parseAbsoluteTarget(raw.url)
  if (!t.ok) return bad(t.reason)
  const target = { host: t.authority.host, hostIsIp: t.authority.hostIsIp, port: t.authority.port ?? defaultPort(t.scheme) }
  const host = hostHeader(h)
  if (!host.ok) return host
  // Host absent is fine for absolute form: the upstream Host is written from the target.
  if (host.value !== null) {
    const fromHost = { host: host.value.host, port: host.value.port ?? defaultPort(t.scheme) }
    if (!sameAuthority(fromHost, target)) return bad(`Host header (${describe(fromHost)}) disagrees with the request target (${describe(target)})`)
  }
  const tunnelled = tunnelOf(raw)
  if (!tunnelled.ok) return tunnelled
  const tunnel = tunnelled.value
  if (tunnel) {
    // Schemes named too: a tunnel carrying plain http is not the https origin at the same host:port.
    if (t.scheme !== tunnel.scheme || !sameAuthority(target, tunnel)) return bad(`request target (${t.scheme}://${describe(target)}) disagrees with the tunnel it was sent in (${tunnel.scheme}://${describe(tunnel)})`)
  }
  const built = buildTarget(t.scheme, target, t.rawPath, t.query)
  return built.ok ? { ok: true, via, target: built.target, namedTool: null } : built
}

/** /t/<tool>/<rest>: the tool's base URL joined with the normalised /<rest>; Host (naming toolgate) is ignored. */
function resolveRoutePrefix(raw: RawRequest, allowlist: Allowlist): Resolved | Refusal {
  if (raw.url.includes('#')) return bad('fragment ("#") in request target')
  const m = ROUTE_PREFIX.exec(raw.url)
  if (!m) return bad('not a proxy request: send an absolute URL (HTTP_PROXY) or use a /t/<tool>/ route prefix')
  const name = m[1]!
  if (name === '') return bad('route prefix /t/ needs a tool name: /t/<tool>/...')
  const tool = allowlist.byName(name)
  if (!tool) return { ok: false, status: 404, reason: `no tool named ${quote(name)} in the allowlist` }
  if (!tool.base) return { ok: false, status: 404, reason: `tool ${quote(name)} matches a wildcard host and has no base_url, so it has no route prefix` }
  const pq = parseOriginTarget((m[2] ?? '/') + (m[3] ?? ''))
  if (!pq.ok) return bad(pq.reason)
  // The rest is normalised on its own, so '..' can never climb out of it into the base path.
  const rest = normalisePath(pq.rawPath)
  if (!rest.ok) return bad(rest.reason)
  const b = tool.base
  const target: Target = { scheme: b.scheme, host: b.host, hostIsIp: b.hostIsIp, port: b.port, path: b.pathPrefix + rest.path, query: pq.query }
  return { ok: true, via: 'route', target, namedTool: tool }
}

/** Origin form inside a tunnel or redirected by iptables: the destination comes from Host (and must agree with the tunnel). */
function resolveByHost(raw: RawRequest, h: ParsedHeaders): Resolved | Refusal {
  const pq = parseOriginTarget(raw.url)
  if (!pq.ok) return bad(pq.reason)
  const tunnelled = tunnelOf(raw)
  if (!tunnelled.ok) return tunnelled
  const tunnel = tunnelled.value
  const scheme: Scheme = tunnel?.scheme ?? 'http'
  const host = hostHeader(h)
  if (!host.ok) return host
  let dest: { host: string; hostIsIp: boolean; port: number }
  if (host.value === null) {
    if (!tunnel) return bad('Host header is required')
    dest = { host: tunnel.host, hostIsIp: tunnel.hostIsIp, port: tunnel.port }
  } else {
    dest = { host: host.value.host, hostIsIp: host.value.hostIsIp, port: host.value.port ?? defaultPort(scheme) }
    if (tunnel && !sameAuthority(dest, tunnel)) return bad(`Host header (${describe(dest)}) disagrees with the tunnel it was sent in (${describe(tunnel)})`)
  }
  const built = buildTarget(scheme, dest, pq.rawPath, pq.query)
  return built.ok ? { ok: true, via: raw.via, target: built.target, namedTool: null } : built
}

function resolveConnect(raw: RawRequest, h: ParsedHeaders): Resolved | Refusal {
  const t = parseAuthorityTarget(raw.url)
  if (!t.ok) return bad(t.reason)
  const host = hostHeader(h)
  if (!host.ok) return host
  if (host.value !== null) {
    const fromHost = { host: host.value.host, port: host.value.port ?? t.port }
    if (!sameAuthority(fromHost, t)) return bad(`Host header (${describe(fromHost)}) disagrees with the CONNECT target (${describe(t)})`)
  }
  return { ok: true, via: 'connect', target: { scheme: raw.connectScheme ?? 'https', host: t.host, hostIsIp: t.hostIsIp, port: t.port, path: '', query: '' }, namedTool: null }
}

function resolve(raw: RawRequest, h: ParsedHeaders, allowlist: Allowlist): Resolved | Refusal {
  if (raw.via === 'connect' || raw.method === 'CONNECT') {
    if (raw.via !== 'connect' || raw.method !== 'CONNECT') return bad('CONNECT is only accepted as a tunnel request')
    return resolveConnect(raw, h)
  }
  if (raw.url === '*') return bad('asterisk-form request targets (OPTIONS *) are not proxied')
  // RFC 9112 section 3.2: an HTTP/1.1 request without Host is refused (Node's own check is off so that
  // this refusal is recorded like every other; listen/agent-http-server.ts).
  if (raw.httpVersion === '1.1' && h.host === null) return bad('Host header is required in HTTP/1.1')
  const originForm = raw.url.startsWith('/')
  switch (raw.via) {
    case 'forward':
    case 'route':
      return originForm ? resolveRoutePrefix(raw, allowlist) : resolveAbsolute(raw, h, 'forward')
    case 'intercepted':
    case 'transparent':
      return originForm ? resolveByHost(raw, h) : resolveAbsolute(raw, h, raw.via)
  }
}

interface Verdict {
  route: MatchedRoute | null
  access: Access | null
  classification: Classification | null
  labels: Record<string, string>
}

function verdictOf(tool: CompiledTool | null, match: RouteMatch | null): Verdict {
  if (tool === null) return { route: null, access: null, classification: null, labels: {} }
  if (match !== null && match.kind === 'route') return { route: match.route, access: match.access, classification: match.classification, labels: match.labels }
  // A tunnel (no route) or a call no route allows: the tool's own defaults, for the record.
  return { route: null, access: match === null ? tool.config.access ?? null : null, classification: tool.config.data_classification ?? null, labels: { ...(tool.config.labels ?? {}) } }
}

export function classify(raw: RawRequest, opts: ClassifyOptions): Classified {
  const id = opts.newId()
  const partial: Partial<ToolCall> = { id, via: raw.via, method: raw.method }
  const refuse = (r: { status: 400 | 404 | 431; reason: string }, more?: Partial<ToolCall>): Classified => ({ ok: false, status: r.status, reason: r.reason, id, partial: { ...partial, ...more } })

  const parsed = parseHeaders(raw.rawHeaders, opts.maxHeaderBytes)
  if (!parsed.ok) return refuse(parsed)
  const h = parsed.headers
  if (!TOKEN.test(raw.method)) return refuse(bad('invalid request method'))
  const resolved = resolve(raw, h, opts.allowlist)
  if (!resolved.ok) return refuse(resolved)
  const { via } = resolved
  // A path that lenient servers read as a different path (double-encoded separators or dot
  // segments) is refused here, as a parse refusal, so that not even report mode lets it through.
  const lenient = lenientSegments(resolved.target.path)
  if (!lenient.ok) return refuse(bad(`ambiguous path: ${lenient.reason}`), { target: resolved.target })
  // Override hints never reach the upstream (and so are not what the call is decided and recorded as).
  const hints = opts.overrideHints ?? DEFAULT_HINTS
  const target = { ...resolved.target, query: withoutOverrideParams(resolved.target.query, hints) }

  const tool = resolved.namedTool ?? opts.allowlist.matchTarget(target)
  const routeMatch = tool !== null && via !== 'connect' ? opts.allowlist.matchRoute(tool, raw.method, target.path) : null
  const v = verdictOf(tool, routeMatch)
  const call: ToolCall = {
    id,
    via,
    method: raw.method,
    target,
    tool: tool?.name ?? null,
    route: v.route,
    access: v.access,
    classification: v.classification,
    labels: v.labels,
    headers: policyHeaders(h),
    mcp: null,
    taskId: h.taskId,
    upgrade: h.upgrade,
  }
  const allowUpgrade = h.upgrade && v.route?.upgrade === true
  const hostForOrigin = target.host.includes(':') ? `[${target.host}]` : target.host
  const upstream: UpstreamRequest = {
    origin: `${target.scheme}://${hostForOrigin}:${target.port}`,
    path: via === 'connect' ? '' : target.path + (target.query === '' ? '' : '?' + target.query),
    method: raw.method,
    headers: via === 'connect' ? [] : withoutOverrideHeaders(upstreamHeaders(h, formatAuthority(target.host, target.port, target.scheme), allowUpgrade), hints),
  }
  return { ok: true, call, tool, routeMatch, upstream, txnToken: h.txnToken }
}
