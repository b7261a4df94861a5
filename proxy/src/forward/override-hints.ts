// Override hints: request headers and query parameters through which many frameworks let a
// client replace the method or path the server routes on (Express method-override, Rails and
// Laravel `_method`, Symfony and IIS X-Original-URL / X-Rewrite-URL, Spring X-Forwarded-Prefix,
// ...). toolgate decides on the method and path it sees; an upstream that honours such a hint
// would run a different handler than the one decided, so they are removed before forwarding.
// The lists are configurable (hardening.override_hints); the defaults are below and in
// docs/proxy.md.

export interface OverrideHints {
  /** Lower-case header names removed from every forwarded request. */
  readonly headers: ReadonlySet<string>
  /** Lower-case query parameter names removed from every forwarded request. */
  readonly queryParams: ReadonlySet<string>
}

export const DEFAULT_OVERRIDE_HEADERS: readonly string[] = [
  'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method',
  'x-original-url', 'x-original-uri', 'x-rewrite-url', 'x-forwarded-prefix', 'x-forwarded-uri',
  'x-forwarded-path', 'x-envoy-original-path',
]
export const DEFAULT_OVERRIDE_QUERY_PARAMS: readonly string[] = ['_method']

export function overrideHints(config: { headers?: readonly string[]; query_params?: readonly string[] } = {}): OverrideHints {
  return {
    headers: new Set((config.headers ?? DEFAULT_OVERRIDE_HEADERS).map((h) => h.toLowerCase())),
    queryParams: new Set((config.query_params ?? DEFAULT_OVERRIDE_QUERY_PARAMS).map((q) => q.toLowerCase())),
  }
}

export const DEFAULT_HINTS: OverrideHints = overrideHints()

/** The header list without override hints (names compared case-insensitively). */
export function withoutOverrideHeaders<T extends readonly [string, string]>(headers: readonly T[], hints: OverrideHints): T[] {
  return headers.filter(([name]) => !hints.headers.has(name.toLowerCase()))
}

/** A query parameter name as a lenient server reads it: decoded (to a bounded fixpoint), '+' as space, lower case. */
function paramName(raw: string): string {
  let name = raw.replace(/\+/g, ' ')
  for (let i = 0; i < 8 && name.includes('%'); i++) {
    const next = name.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (next === name) break
    name = next
  }
  return name.trim().toLowerCase()
}

/**
 * The raw query without override parameters; the others keep their exact bytes and order. Some
 * frameworks also split on ';' (old CGI convention), so both separators are honoured.
 */
export function withoutOverrideParams(query: string, hints: OverrideHints): string {
  if (query === '' || hints.queryParams.size === 0) return query
  const parts = query.split(/([&;])/)
  const kept: string[] = []
  for (let i = 0; i < parts.length; i += 2) {
    const pair = parts[i]!
    const eq = pair.indexOf('=')
    if (hints.queryParams.has(paramName(eq === -1 ? pair : pair.slice(0, eq)))) continue
    if (kept.length > 0) kept.push(parts[i - 1] ?? '&')
    kept.push(pair)
  }
  return kept.join('')
}
