// The compiled allowlist: which tool a destination belongs to, and which route (or deny rule) of
// that tool a method and normalised path fall under. Compiled once per config (a reload compiles
// a new one), then only read. Semantics are documented in docs/allowlist.md.

import type { DenyRule, Route, Tool } from '../config/schema.gen.ts'
import type { PathSegment } from '../config/yaml-source.ts'
import type { Access, Classification, MatchedRoute, Scheme, Target } from './toolcall.ts'
import { canonicalHost, defaultPort, normalisePath } from './target.ts'
import { parseAuthority } from './request-target.ts'
import { compilePattern, lenientPattern, matchPattern, matchPatternSegments, PatternError, type PathPattern } from './path-pattern.ts'
import { lenientSegments } from './path-canonical.ts'

/** A config problem in the allowlist; `path` locates the field (e.g. ['tools', 2, 'routes', 0, 'path']). */
export class AllowlistError extends Error {
  readonly path: readonly PathSegment[]
  constructor(path: readonly PathSegment[], message: string) {
    super(message)
    this.name = 'AllowlistError'
    this.path = path
  }
}

export type HostPattern = { kind: 'exact'; host: string; isIp: boolean } | { kind: 'suffix'; domain: string }

export interface CompiledRoute {
  readonly index: number
  readonly name: string | null
  readonly methods: ReadonlySet<string> | null // null: any
  readonly pattern: PathPattern
  readonly access: Access | null
  readonly classification: Classification | null
  readonly labels: Readonly<Record<string, string>>
  readonly upgrade: boolean
}

export interface CompiledDenyRule {
  readonly index: number
  readonly methods: ReadonlySet<string> | null
  readonly pattern: PathPattern
  /** The pattern as matched against the lenient reading of a path (path-canonical.ts). */
  readonly lenient: PathPattern
  readonly reason: string | null
}

export interface CompiledTool {
  readonly name: string
  /** The tool as written in the config (mode, passthrough, credential, ... are read from here). */
  readonly config: Tool
  readonly scheme: Scheme
  readonly host: HostPattern
  readonly port: number
  /** Upstream of the /t/<name>/ route prefix; null for a '*.domain' tool without base_url. */
  readonly base: { scheme: Scheme; host: string; hostIsIp: boolean; port: number; pathPrefix: string } | null
  /** null when the tool has no `routes` key: every method and path (minus deny rules) is allowed. */
  readonly routes: readonly CompiledRoute[] | null
  readonly deny: readonly CompiledDenyRule[]
}

export type RouteMatch =
  | { kind: 'route'; route: MatchedRoute; access: Access; classification: Classification | null; labels: Record<string, string> }
  | { kind: 'denied'; rule: number; reason: string }
  | { kind: 'none'; nearMisses: string[] }

export interface Allowlist {
  readonly tools: readonly CompiledTool[]
  byName(name: string): CompiledTool | undefined
  /** Exact host beats '*.domain' (the longest domain wins among those); '*.domain' never matches the bare domain. */
  matchTarget(target: Pick<Target, 'scheme' | 'host' | 'port'>): CompiledTool | null
  matchRoute(tool: CompiledTool, method: string, path: string): RouteMatch
}

const DEFAULT_ROUTE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD'])
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])
/** The implicit route of a tool without `routes`. */
const WHOLE_TOOL_PATTERN = '/**'

function compileMethods(methods: readonly string[] | undefined, fallback: ReadonlySet<string> | null): ReadonlySet<string> | null {
  if (methods === undefined) return fallback
  if (methods.includes('*')) return null
  return new Set(methods)
}

function compileHostPattern(raw: string, at: readonly PathSegment[]): HostPattern {
  if (raw.startsWith('*.')) {
    const h = canonicalHost(raw.slice(2))
    if (!h.ok) throw new AllowlistError(at, `invalid wildcard host ${JSON.stringify(raw)}: ${h.reason}`)
    if (h.isIp) throw new AllowlistError(at, `a wildcard can not be combined with an IP address (${JSON.stringify(raw)})`)
    if (!h.host.includes('.')) throw new AllowlistError(at, `wildcard ${JSON.stringify(raw)} would match every name under a top-level domain`)
    return { kind: 'suffix', domain: h.host }
  }
  if (raw.includes('*')) throw new AllowlistError(at, `"*" is only allowed as the whole first label ("*.example.com"), got ${JSON.stringify(raw)}`)
  const h = canonicalHost(raw)
  if (!h.ok) throw new AllowlistError(at, `invalid host ${JSON.stringify(raw)}: ${h.reason}`)
  return { kind: 'exact', host: h.host, isIp: h.isIp }
}

function hostMatches(p: HostPattern, host: string): boolean {
  return p.kind === 'exact' ? p.host === host : host.endsWith('.' + p.domain)
}

function compilePatternAt(source: string, at: readonly PathSegment[]): PathPattern {
  try {
    return compilePattern(source)
  } catch (err) {
    if (err instanceof PatternError) throw new AllowlistError(at, `invalid path pattern ${JSON.stringify(source)}: ${err.message}`)
    throw err
  }
}

/** Parses base_url strictly (same rules as request targets) and checks it lies inside the tool's match. */
function compileBase(tool: Tool, scheme: Scheme, host: HostPattern, port: number, at: readonly PathSegment[]): CompiledTool['base'] {
  if (tool.base_url === undefined) {
    if (host.kind === 'suffix') return null
    return { scheme, host: host.host, hostIsIp: host.isIp, port, pathPrefix: '' }
  }
  const m = /^(https?):\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(tool.base_url)
  if (!m) throw new AllowlistError(at, 'base_url must be http(s)://host[:port][/path] without query or fragment')
  const baseScheme = m[1]!.toLowerCase() as Scheme
  // The one authority parser (classify/request-target.ts), as for request targets.
  const a = parseAuthority(m[2]!, 'base_url host')
  if (!a.ok) throw new AllowlistError(at, a.reason)
  const h = { host: a.host, isIp: a.hostIsIp }
  const basePort = a.port ?? defaultPort(baseScheme)
  let pathPrefix = ''
  if (m[3] !== undefined && m[3] !== '/') {
    const p = normalisePath(m[3])
    if (!p.ok) throw new AllowlistError(at, `base_url path: ${p.reason}`)
    pathPrefix = p.path.endsWith('/') ? p.path.slice(0, -1) : p.path
  }
  // The route prefix must not become a way to reach a destination the tool's match does not name:
  // credentials for this tool would otherwise go wherever base_url points.
  if (baseScheme !== scheme || basePort !== port || !hostMatches(host, h.host)) {
    throw new AllowlistError(at, `base_url ${JSON.stringify(tool.base_url)} is outside the tool's match (${scheme}://${host.kind === 'suffix' ? '*.' + host.domain : host.host}:${port})`)
  }
  return { scheme: baseScheme, host: h.host, hostIsIp: h.isIp, port: basePort, pathPrefix }
}

function compileRoute(r: Route, index: number, at: readonly PathSegment[]): CompiledRoute {
  return {
    index,
    name: r.name ?? null,
    methods: compileMethods(r.methods, DEFAULT_ROUTE_METHODS),
    pattern: compilePatternAt(r.path, [...at, 'path']),
    access: r.access ?? null,
    classification: r.data_classification ?? null,
    labels: r.labels ?? {},
    upgrade: r.upgrade === true,
  }
}

function compileDeny(d: DenyRule, index: number, at: readonly PathSegment[]): CompiledDenyRule {
  const pattern = compilePatternAt(d.path, [...at, 'path'])
  let lenient: PathPattern
  try {
    lenient = lenientPattern(pattern)
  } catch (err) {
    if (err instanceof PatternError) throw new AllowlistError([...at, 'path'], `invalid deny pattern ${JSON.stringify(d.path)}: ${err.message}`)
    throw err
  }
  // Most servers answer HEAD with their GET handler (Express, Spring, Rails, Go): a GET deny is a HEAD deny.
  let methods = compileMethods(d.methods, null)
  if (methods !== null && methods.has('GET')) methods = new Set([...methods, 'HEAD'])
  return { index, methods, pattern, lenient, reason: d.reason ?? null }
}

/**
 * TRACE (and its IIS twin TRACK) echo the request, credential included, back to the agent: they
 * are allowed only by a route that names them, never by "*" or a tool without routes.
 */
const ECHO_METHODS: ReadonlySet<string> = new Set(['TRACE', 'TRACK'])

function methodAllowed(methods: ReadonlySet<string> | null, method: string): boolean {
  if (methods === null) return !ECHO_METHODS.has(method)
  return methods.has(method)
}

function compileTool(tool: Tool, i: number): CompiledTool {
  const at: PathSegment[] = ['tools', i]
  const scheme: Scheme = tool.match.scheme ?? 'https'
  const host = compileHostPattern(tool.match.host, [...at, 'match', 'host'])
  const port = tool.match.port ?? defaultPort(scheme)
  return {
    name: tool.name,
    config: tool,
    scheme,
    host,
    port,
    base: compileBase(tool, scheme, host, port, [...at, 'base_url']),
    routes: tool.routes === undefined ? null : tool.routes.map((r, j) => compileRoute(r, j, [...at, 'routes', j])),
    deny: (tool.deny ?? []).map((d, j) => compileDeny(d, j, [...at, 'deny', j])),
  }
}

function methodList(methods: ReadonlySet<string> | null): string {
  return methods === null ? 'any' : [...methods].join(', ')
}

function defaultAccess(method: string): Access {
  return READ_METHODS.has(method) ? 'read' : 'write'
}

class CompiledAllowlist implements Allowlist {
  readonly tools: readonly CompiledTool[]
  private readonly names: ReadonlyMap<string, CompiledTool>
  /** Exact hosts: key scheme://host:port. */
  private readonly exact: ReadonlyMap<string, CompiledTool>
  /** Wildcard tools, longest domain first, so the most specific one matches. */
  private readonly suffixes: readonly CompiledTool[]

  constructor(tools: readonly CompiledTool[]) {
    this.tools = tools
    const names = new Map<string, CompiledTool>()
    const exact = new Map<string, CompiledTool>()
    const suffix = new Map<string, CompiledTool>()
    tools.forEach((t, i) => {
      if (names.has(t.name)) throw new AllowlistError(['tools', i, 'name'], `tool name ${JSON.stringify(t.name)} is used twice`)
      names.set(t.name, t)
      const key = `${t.scheme}://${t.host.kind === 'exact' ? t.host.host : '*.' + t.host.domain}:${t.port}`
      const map = t.host.kind === 'exact' ? exact : suffix
      const other = map.get(key)
      // Two tools on one destination would make the tool (and so its credential) depend on order.
      if (other) throw new AllowlistError(['tools', i, 'match'], `tools ${JSON.stringify(other.name)} and ${JSON.stringify(t.name)} match the same destination ${key}`)
      map.set(key, t)
    })
    this.names = names
    this.exact = exact
    this.suffixes = [...suffix.values()].sort((a, b) => (b.host as { domain: string }).domain.length - (a.host as { domain: string }).domain.length)
  }

  byName(name: string): CompiledTool | undefined {
    return this.names.get(name)
  }

  matchTarget(target: Pick<Target, 'scheme' | 'host' | 'port'>): CompiledTool | null {
    const exact = this.exact.get(`${target.scheme}://${target.host}:${target.port}`)
    if (exact) return exact
    for (const t of this.suffixes) {
      if (t.scheme === target.scheme && t.port === target.port && hostMatches(t.host, target.host)) return t
    }
    return null
  }

  matchRoute(tool: CompiledTool, method: string, path: string): RouteMatch {
    // Deny rules hold against the most lenient reading of the path; a path that reads as two
    // different paths to two servers is refused for every tool (path-canonical.ts).
    const lenient = lenientSegments(path)
    if (!lenient.ok) return { kind: 'denied', rule: -1, reason: `ambiguous path: ${lenient.reason}` }
    for (const d of tool.deny) {
      if ((d.methods === null || d.methods.has(method)) && matchPatternSegments(d.lenient, lenient.segments) !== null) {
        return { kind: 'denied', rule: d.index, reason: d.reason ?? `deny rule ${d.index} (${d.pattern.source}) of tool ${tool.name} matches ${method} ${path}` }
      }
    }
    const cfg = tool.config
    if (tool.routes === null && ECHO_METHODS.has(method)) {
      return { kind: 'denied', rule: -1, reason: `${method} echoes the request (and any injected credential) back; it needs a route that names it` }
    }
    const labels = (route: Readonly<Record<string, string>>): Record<string, string> => ({ ...(cfg.labels ?? {}), ...route })
    if (tool.routes === null) {
      return {
        kind: 'route',
        route: { index: -1, name: null, pattern: WHOLE_TOOL_PATTERN, captures: {}, upgrade: false },
        access: cfg.access ?? defaultAccess(method),
        classification: cfg.data_classification ?? null,
        labels: labels({}),
      }
    }
    const nearMisses: string[] = []
    for (const r of tool.routes) {
      const captures = matchPattern(r.pattern, path)
      if (captures === null) {
        const other = path.endsWith('/') ? path.slice(0, -1) : path + '/'
        if (path !== '/' && matchPattern(r.pattern, other) !== null) nearMisses.push(`route ${r.index} (${r.pattern.source}) would match ${other} (the path differs in its trailing "/")`)
        continue
      }
      if (!methodAllowed(r.methods, method)) {
        nearMisses.push(`route ${r.index} (${r.pattern.source}) matches the path but not method ${method} (allowed: ${methodList(r.methods)})`)
        continue
      }
      return {
        kind: 'route',
        route: { index: r.index, name: r.name, pattern: r.pattern.source, captures, upgrade: r.upgrade },
        access: r.access ?? cfg.access ?? defaultAccess(method),
        classification: r.classification ?? cfg.data_classification ?? null,
        labels: labels(r.labels),
      }
    }
    return { kind: 'none', nearMisses }
  }
}

/** Compiles the tools of a config. Throws AllowlistError for the first invalid host, pattern or base_url. */
export function compileAllowlist(tools: readonly Tool[]): Allowlist {
  return new CompiledAllowlist(tools.map(compileTool))
}

/** Every allowlist problem of a config at once (for `toolgate check`), instead of the first. */
export function allowlistErrors(tools: readonly Tool[]): AllowlistError[] {
  const errors: AllowlistError[] = []
  const compiled: CompiledTool[] = []
  tools.forEach((t, i) => {
    try {
      compiled.push(compileToolCollecting(t, i, errors))
    } catch (err) {
      if (err instanceof AllowlistError) errors.push(err)
      else throw err
    }
  })
  if (errors.length === 0) {
    try {
      new CompiledAllowlist(compiled)
    } catch (err) {
      if (err instanceof AllowlistError) errors.push(err)
      else throw err
    }
  }
  return errors
}

/** compileTool, but route and deny pattern errors are collected instead of stopping at the first. */
function compileToolCollecting(tool: Tool, i: number, errors: AllowlistError[]): CompiledTool {
  const collect = <T, R>(items: readonly T[] | undefined, f: (item: T, j: number) => R): R[] => {
    const out: R[] = []
    ;(items ?? []).forEach((item, j) => {
      try {
        out.push(f(item, j))
      } catch (err) {
        if (err instanceof AllowlistError) errors.push(err)
        else throw err
      }
    })
    return out
  }
  collect(tool.routes, (r, j) => compileRoute(r, j, ['tools', i, 'routes', j]))
  collect(tool.deny, (d, j) => compileDeny(d, j, ['tools', i, 'deny', j]))
  // Host, port and base_url are checked on the tool without its (already checked) rules.
  const { routes: _routes, deny: _deny, ...bare } = tool
  return compileTool(bare, i)
}
