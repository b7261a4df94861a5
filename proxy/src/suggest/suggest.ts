// Builds allowlist suggestions from observed calls: per destination a tool, per generalised path
// a route. Reads (GET, HEAD, OPTIONS) are suggested as routes; writes are never allowed
// silently: they are returned flagged for review, and rendered as commented-out entries.

import { generaliseIdentifiers, generaliseVariants, joinPattern } from './generalise.ts'
import type { ObservedCall } from './observe.ts'

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const MAX_EXAMPLES = 3

export interface RouteSuggestion {
  pattern: string
  methods: string[]
  access: 'read' | 'write'
  /** Writes are flagged for review and not allowed by the suggestion. */
  review: boolean
  count: number
  denied: number
  examples: string[]
}

export interface ToolSuggestion {
  /** Existing tool this extends, or null for a new tool. */
  existing: string | null
  name: string
  scheme: 'http' | 'https'
  host: string
  port: number
  routes: RouteSuggestion[]
  mcpTools: Record<string, number>
}

function toolName(host: string, taken: Set<string>): string {
  const labels = host.split('.')
  const core = /^\d+$/.test(labels.at(-1) ?? '') || host.includes(':')
    ? ['host', ...host.split(/[.:]/)]
    : labels.slice(labels[0] === 'api' || labels[0] === 'www' ? 1 : 0, Math.max(1, labels.length - 1))
  const base = core.join('-').toLowerCase().replace(/[^a-z0-9_-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'tool'
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`
  taken.add(name)
  return name
}

export interface SuggestOptions {
  /** Tool names already in the config (new tools get other names). */
  existingNames: Iterable<string>
  /** Existing tool that matches a destination, if any. */
  existingToolFor: (call: ObservedCall) => string | null
  minDistinct?: number
}

export function suggest(calls: readonly ObservedCall[], opts: SuggestOptions): ToolSuggestion[] {
  const taken = new Set(opts.existingNames)
  const groups = new Map<string, ObservedCall[]>()
  for (const c of calls) {
    const existing = opts.existingToolFor(c)
    // Calls an existing tool already allows need nothing; the rest are what to suggest.
    if (existing !== null && c.decision === 'allow') continue
    const key = `${c.scheme}://${c.host}:${c.port}`
    const list = groups.get(key) ?? []
    list.push(c)
    groups.set(key, list)
  }
  const out: ToolSuggestion[] = []
  for (const list of groups.values()) {
    const first = list[0]!
    const existing = opts.existingToolFor(first)
    const patterns = generaliseVariants(list.map((c) => generaliseIdentifiers(c.path)), opts.minDistinct ?? 5).map(joinPattern)
    const routes = new Map<string, RouteSuggestion>()
    const mcpTools: Record<string, number> = {}
    list.forEach((c, i) => {
      if (c.mcpTool) mcpTools[c.mcpTool] = (mcpTools[c.mcpTool] ?? 0) + 1
      const read = READ_METHODS.has(c.method)
      const pattern = patterns[i]!
      const key = read ? `read ${pattern}` : `${c.method} ${pattern}`
      const r = routes.get(key) ?? { pattern, methods: [], access: read ? 'read' : 'write', review: !read, count: 0, denied: 0, examples: [] }
      if (!r.methods.includes(c.method)) r.methods.push(c.method)
      r.count++
      if (c.decision !== 'allow') r.denied++
      const example = `${c.method} ${c.path}`
      if (r.examples.length < MAX_EXAMPLES && !r.examples.includes(example)) r.examples.push(example)
      routes.set(key, r)
    })
    for (const r of routes.values()) {
      r.methods.sort()
      if (r.access === 'read' && r.methods.includes('GET') && !r.methods.includes('HEAD')) r.methods.push('HEAD')
    }
    out.push({
      existing,
      name: existing ?? toolName(first.host, taken),
      scheme: first.scheme,
      host: first.host,
      port: first.port,
      routes: [...routes.values()].sort((a, b) => a.pattern.localeCompare(b.pattern) || a.methods.join().localeCompare(b.methods.join())),
      mcpTools,
    })
  }
  return out.sort((a, b) => a.name.localeCompare(b.name))
}
