// Rate limit rules JSON Schema cannot express: a limit names a tool that exists, a route only
// with its tool, names are unique, a global limit needs the service. Called by config/semantic.ts.

import type { PathSegment } from '../config/yaml-source.ts'
import { didYouMean } from '../config/suggest.ts'
import { obj, type ConfigFinding, type Obj } from '../config/raw-value.ts'


export function rateLimitFindings(root: Obj, toolNames: string[]): ConfigFinding[] {
  const out: ConfigFinding[] = []
  const rl = obj(root['rate_limits'])
  if (!rl) return out
  const limits = Array.isArray(rl['limits']) ? rl['limits'] : []
  const seen = new Map<string, number>()
  limits.forEach((l, i) => {
    const limit = obj(l)
    if (!limit) return
    const at = (...rest: PathSegment[]): PathSegment[] => ['rate_limits', 'limits', i, ...rest]
    const name = typeof limit['name'] === 'string' ? limit['name'] : null
    if (name !== null) {
      const first = seen.get(name)
      if (first !== undefined) out.push({ path: at('name'), at: 'value', message: `duplicate rate limit name '${name}' (already used by rate_limits.limits[${first}])` })
      else seen.set(name, i)
    }
    const tool = typeof limit['tool'] === 'string' ? limit['tool'] : null
    if (tool !== null && !toolNames.includes(tool)) out.push({ path: at('tool'), at: 'value', message: `no tool named '${tool}' in tools${didYouMean(tool, toolNames)}` })
    if (limit['route'] !== undefined && tool === null) out.push({ path: at('route'), at: 'key', message: 'a route limit needs tool: route names and patterns belong to one tool' })
    if (limit['scope'] === 'global' && !obj(rl['service'])) out.push({ path: at('scope'), at: 'value', message: 'a global limit needs rate_limits.service (the Envoy rate limit service address)' })
  })
  return out
}
