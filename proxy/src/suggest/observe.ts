// Reads decision records (JSON lines, as toolgate writes them) into observed calls, grouped by
// destination. Lines that are not decision records, or lack the fields a suggestion needs, are
// counted and skipped, never guessed.

export interface ObservedCall {
  scheme: 'http' | 'https'
  host: string
  port: number
  method: string
  path: string
  decision: 'allow' | 'deny' | 'would_deny'
  stage: string | null
  tool: string | null
  mcpTool: string | null
}

export interface ObservedRecords {
  calls: ObservedCall[]
  skipped: number
}

export function parseRecords(text: string): ObservedRecords {
  const calls: ObservedCall[] = []
  let skipped = 0
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let r: Record<string, unknown>
    try {
      r = JSON.parse(line) as Record<string, unknown>
    } catch {
      skipped++
      continue
    }
    const ok = r['type'] === 'decision' && (r['scheme'] === 'http' || r['scheme'] === 'https') && typeof r['host'] === 'string' &&
      typeof r['port'] === 'number' && typeof r['method'] === 'string' && typeof r['path'] === 'string' && r['path'] !== '' &&
      (r['decision'] === 'allow' || r['decision'] === 'deny' || r['decision'] === 'would_deny')
    if (!ok || r['stage'] === 'parse' || r['stage'] === 'destination') {
      skipped++
      continue
    }
    const mcp = r['mcp'] as { tool?: unknown } | null | undefined
    calls.push({
      scheme: r['scheme'] as 'http' | 'https',
      host: r['host'] as string,
      port: r['port'] as number,
      method: r['method'] as string,
      path: r['path'] as string,
      decision: r['decision'] as ObservedCall['decision'],
      stage: typeof r['stage'] === 'string' ? r['stage'] : null,
      tool: typeof r['tool'] === 'string' ? r['tool'] : null,
      mcpTool: typeof mcp?.tool === 'string' ? mcp.tool : null,
    })
  }
  return { calls, skipped }
}
