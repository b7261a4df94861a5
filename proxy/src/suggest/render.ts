// Renders suggestions as toolgate.yaml: into a copy of the current config when one is given
// (its comments and formatting kept, new routes appended to existing tools, new tools added),
// or as a fresh config. Write routes appear only as commented-out entries marked REVIEW.

import { Document, isMap, isSeq, parseDocument, type YAMLMap } from 'yaml'
import type { RouteSuggestion, ToolSuggestion } from './suggest.ts'

const DEFAULT_PORT = { http: 80, https: 443 } as const

function routeComment(r: RouteSuggestion): string {
  const denied = r.denied > 0 ? `, ${r.denied} denied` : ''
  return ` ${r.count} call${r.count === 1 ? '' : 's'}${denied}; e.g. ${r.examples.join(', ')}`
}

function routeNode(doc: Document, r: RouteSuggestion) {
  const node = doc.createNode({ methods: r.methods, path: r.pattern, access: r.access }) as YAMLMap
  node.commentBefore = routeComment(r)
  const methods = node.get('methods', true)
  if (isSeq(methods)) methods.flow = true
  return node
}

function reviewComment(routes: RouteSuggestion[]): string | null {
  const writes = routes.filter((r) => r.review)
  if (writes.length === 0) return null
  const lines = [' REVIEW: write access was observed; allow it only on purpose (uncomment and move into routes):']
  for (const r of writes) {
    lines.push(`   - { methods: [${r.methods.join(', ')}], path: "${r.pattern}", access: write }`)
    lines.push(`    #${routeComment(r)}`)
  }
  return lines.join('\n')
}

function toolNode(doc: Document, t: ToolSuggestion) {
  const match: Record<string, unknown> = { scheme: t.scheme, host: t.host }
  if (t.port !== DEFAULT_PORT[t.scheme]) match['port'] = t.port
  const reads = t.routes.filter((r) => !r.review)
  const node = doc.createNode({ name: t.name, match, routes: [] }) as YAMLMap
  const matchNode = node.get('match', true)
  if (isMap(matchNode)) matchNode.flow = true
  const routes = node.get('routes', true)
  if (isSeq(routes)) for (const r of reads) routes.items.push(routeNode(doc, r))
  const total = t.routes.reduce((n, r) => n + r.count, 0)
  const denied = t.routes.reduce((n, r) => n + r.denied, 0)
  node.commentBefore = ` suggested from ${total} observed call${total === 1 ? '' : 's'} (${denied} denied)`
  const review = reviewComment(t.routes)
  const mcp = Object.entries(t.mcpTools)
  const extra = [review, mcp.length ? ` MCP tools called: ${mcp.map(([n, c]) => `${n} (${c})`).join(', ')}` : null].filter(Boolean).join('\n')
  if (extra) node.comment = extra
  return node
}

export function renderSuggestions(suggestions: ToolSuggestion[], currentText: string | null): string {
  const doc = currentText !== null ? parseDocument(currentText) : new Document({ version: 1, tools: [] })
  if (currentText === null) doc.commentBefore = ' Allowlist suggested by `toolgate suggest` from observed decision records.\n Review every route before use.'
  let seq = doc.get('tools', true)
  if (!isSeq(seq)) {
    doc.set('tools', doc.createNode([]))
    seq = doc.get('tools', true)
  }
  if (!isSeq(seq)) throw new Error('tools is not a list')
  for (const t of suggestions) {
    if (t.existing === null) {
      seq.items.push(toolNode(doc, t))
      continue
    }
    const existing = seq.items.find((item) => isMap(item) && item.get('name') === t.existing) as YAMLMap | undefined
    if (!existing) continue
    let routes = existing.get('routes', true)
    if (!isSeq(routes)) {
      existing.set('routes', doc.createNode([]))
      routes = existing.get('routes', true)
    }
    if (!isSeq(routes)) continue
    for (const r of t.routes.filter((x) => !x.review)) {
      const node = routeNode(doc, r)
      node.commentBefore = ` suggested:${routeComment(r)}`
      routes.items.push(node)
    }
    const review = reviewComment(t.routes)
    if (review) routes.comment = review
  }
  return doc.toString({ lineWidth: 0 })
}
