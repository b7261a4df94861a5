// Rules across fields that JSON Schema cannot express. They read the parsed value defensively
// (it may also have schema errors) so one run reports everything; a rule skips what it cannot
// read, and the loader drops a semantic finding on a path the schema already complained about.

import { isIP } from 'node:net'
import { DEFAULT_LISTENERS, DEFAULT_POLICY } from './defaults.ts'
import { cidrProblem, hostPatternProblem, pathPatternProblem } from './patterns.ts'
import { didYouMean } from './suggest.ts'
import type { PathSegment } from './yaml-source.ts'
import { arr, obj, type ConfigFinding, type Obj } from './raw-value.ts'
import { rateLimitFindings } from '../ratelimit/config-check.ts'
import { trustFindings } from '../trust/config-check.ts'

export type SemanticFinding = ConfigFinding
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null)

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 }

export function semanticFindings(value: unknown): SemanticFinding[] {
  const root = obj(value)
  if (!root) return []
  const out: SemanticFinding[] = []
  const add = (path: PathSegment[], message: string, at: 'key' | 'value' = 'value'): void => {
    out.push({ path, at, message })
  }
  const providers = obj(root.credentials) ?? {}
  const providerNames = Object.keys(providers)

  const firstByName = new Map<string, number>()
  arr(root.tools).forEach((t, i) => {
    const tool = obj(t)
    if (!tool) return
    const at = (...rest: PathSegment[]): PathSegment[] => ['tools', i, ...rest]
    const name = str(tool.name)
    if (name !== null) {
      const first = firstByName.get(name)
      if (first !== undefined) add(at('name'), `duplicate tool name '${name}' (already used by tools[${first}])`)
      else firstByName.set(name, i)
    }

    const match = obj(tool.match)
    const host = str(match?.host)
    const scheme = str(match?.scheme) ?? 'https'
    if (host !== null && host !== '') {
      const problem = hostPatternProblem(host)
      if (problem) add(at('match', 'host'), problem)
    }

    const credential = obj(tool.credential)
    const provider = str(credential?.provider)
    if (provider !== null && !(provider in providers)) {
      const known = providerNames.length ? `defined: ${providerNames.join(', ')}` : 'none are defined'
      add(at('credential', 'provider'), `credential provider '${provider}' is not defined under credentials (${known})${didYouMean(provider, providerNames)}`)
    }

    if (tool.passthrough === true) {
      const why = 'a passthrough tool is tunnelled without inspection and decided on its CONNECT target alone'
      if (scheme !== 'https') add(at('passthrough'), 'passthrough applies to https tools only (plain http is always inspected)')
      if (tool.credential !== undefined) add(at('credential'), `${why}, so it cannot get a credential`, 'key')
      if (tool.mcp !== undefined) add(at('mcp'), `${why}, so MCP rules would never be checked`, 'key')
      if (tool.routes !== undefined) add(at('routes'), `${why}, so routes would never be checked`, 'key')
      if (tool.deny !== undefined) add(at('deny'), `${why}, so deny rules would never be checked`, 'key')
    }

    arr(tool.routes).forEach((r, j) => checkPath(obj(r)?.path, at('routes', j, 'path'), add))
    arr(tool.deny).forEach((r, j) => checkPath(obj(r)?.path, at('deny', j, 'path'), add))
    checkPath(obj(tool.mcp)?.path, at('mcp', 'path'), add)

    arr(tool.allow_addresses).forEach((c, j) => {
      const text = str(c)
      if (text === null) return
      const problem = cidrProblem(text, { allowZeroPrefix: false })
      if (problem) add(at('allow_addresses', j), problem)
    })

    const baseUrl = str(tool.base_url)
    if (baseUrl !== null && host !== null) {
      const problem = baseUrlProblem(baseUrl, scheme, host, int(match?.port) ?? DEFAULT_PORT[scheme] ?? 443)
      if (problem) add(at('base_url'), problem)
    }
  })

  arr(obj(root.transparent)?.exclude_cidrs).forEach((c, j) => {
    const text = str(c)
    if (text === null) return
    const problem = cidrProblem(text, { allowZeroPrefix: true })
    if (problem) add(['transparent', 'exclude_cidrs', j], problem)
  })

  listenerConflicts(obj(root.listeners) ?? {}, add)

  const poll = obj(obj(root.policy)?.poll)
  if (poll) {
    const min = int(poll.min_delay_ms) ?? DEFAULT_POLICY.poll.min_delay_ms
    const max = int(poll.max_delay_ms) ?? DEFAULT_POLICY.poll.max_delay_ms
    if (min > max) add(['policy', 'poll', poll.max_delay_ms !== undefined ? 'max_delay_ms' : 'min_delay_ms'], `max_delay_ms (${max}) must be at least min_delay_ms (${min})`)
  }
  const bundle = str(obj(root.policy)?.bundle)
  if (bundle !== null && /^[a-z][a-z0-9+.-]*:\/\//i.test(bundle) && !/^https?:\/\//i.test(bundle)) {
    add(['policy', 'bundle'], 'a bundle is a file path or an http(s):// URL')
  }

  const tasks = obj(root.tasks)
  const defTtl = int(tasks?.default_ttl_s)
  const maxTtl = int(tasks?.max_ttl_s)
  if (defTtl !== null && maxTtl !== null && defTtl > maxTtl) add(['tasks', 'default_ttl_s'], `default_ttl_s (${defTtl}) is longer than max_ttl_s (${maxTtl})`)

  trustFindings(root, add)

  const ca = obj(obj(root.tls)?.ca)
  if (ca && (ca.cert_file === undefined) !== (ca.key_file === undefined)) {
    add(['tls', 'ca'], 'cert_file and key_file go together: give both (a mounted CA) or neither (generated at start)', 'key')
  }
  for (const f of rateLimitFindings(root, [...firstByName.keys()])) add(f.path, f.message, f.at)
  return out
}

function checkPath(v: unknown, path: PathSegment[], add: (p: PathSegment[], m: string) => void): void {
  const pattern = str(v)
  if (pattern === null || !pattern.startsWith('/')) return // the schema reports a missing '/'
  const problem = pathPatternProblem(pattern)
  if (problem) add(path, problem)
}

/**
 * base_url is where /t/<tool>/ sends requests; the decision is made against match. So base_url
 * must stay inside match: same scheme, a host match covers (equal, or under a wildcard), the same
 * port, no userinfo, query or fragment. A path prefix is allowed.
 */
export function baseUrlProblem(baseUrl: string, scheme: string, host: string, port: number): string | null {
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    return null // the schema's uri format reports it
  }
  const urlScheme = url.protocol.replace(/:$/, '')
  if (urlScheme !== scheme) return `base_url scheme '${urlScheme}' differs from match.scheme '${scheme}'`
  if (url.username || url.password) return 'base_url must not contain credentials (user:password@)'
  if (url.search || url.hash) return 'base_url must not have a query or fragment'
  const urlHost = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const covered = host.startsWith('*.') ? urlHost.endsWith(host.slice(1)) && urlHost.length > host.length - 1 : urlHost === host || (isIP(host) === 6 && isIP(urlHost) === 6 && new URL(`http://[${host}]`).hostname === url.hostname)
  if (!covered) return `base_url host '${urlHost}' is not covered by match.host '${host}'`
  const urlPort = url.port === '' ? (DEFAULT_PORT[urlScheme] ?? 0) : Number(url.port)
  if (urlPort !== port) return `base_url port ${urlPort} differs from the match port ${port}`
  return null
}

const ANY_HOSTS = new Set(['0.0.0.0', '::', ''])

function listenerConflicts(listeners: Obj, add: (p: PathSegment[], m: string, at?: 'key' | 'value') => void): void {
  const seen: Array<{ name: string; host: string; port: number }> = []
  for (const name of ['proxy', 'admin', 'control', 'metrics', 'transparent_http', 'transparent_tls'] as const) {
    const written = obj(listeners[name])
    if (!written && (name === 'transparent_http' || name === 'transparent_tls' || name === 'metrics')) continue
    const def = name === 'metrics' ? { host: '127.0.0.1', port: 0 } : DEFAULT_LISTENERS[name]
    const host = str(written?.host) ?? def.host
    const port = int(written?.port) ?? def.port
    if (port === 0) continue // each gets its own free port
    const clash = seen.find((s) => s.port === port && (s.host === host || ANY_HOSTS.has(s.host) || ANY_HOSTS.has(host)))
    if (clash) add(['listeners', name], `listens on ${host}:${port}, which listeners.${clash.name} (${clash.host}:${clash.port}) already uses`, 'key')
    seen.push({ name, host, port })
  }
}
