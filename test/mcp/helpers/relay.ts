// TEST-ONLY relay that stands in for toolgate's pipeline while the pipeline has no MCP stage: it
// calls the classify/mcp modules exactly the way the pipeline should (docs/mcp.md, "Wiring"):
// buffer the POST body (bounded), parse once, decide every message (name rules, then an
// arguments rule standing in for the Rego policy), answer denials as JSON-RPC, forward the SAME
// bytes, drop the agent's Authorization and inject the tool's credential, and pipe responses that
// may carry tools/list results through the filter. It is not toolgate: no allowlist, no policy
// engine, no records. The end-to-end test through toolgate itself is test/mcp/toolgate-e2e.test.ts.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { parseMcpBody, type McpMessage } from '../../../proxy/src/classify/mcp/parse.ts'
import { compileMcpRules, mcpToolAllowed } from '../../../proxy/src/classify/mcp/rules.ts'
import { jsonRpcBatchDenial, jsonRpcDenial, jsonRpcRefusal, type JsonRpcReply } from '../../../proxy/src/classify/mcp/respond.ts'
import { createToolsListFilter } from '../../../proxy/src/classify/mcp/filter.ts'
import type { McpRules } from '../../../proxy/src/config/schema.gen.ts'

export interface Relay {
  url: string
  /** Tool names the relay denied (for assertions). */
  denied: string[]
  close(): Promise<void>
}

const FORWARDED = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']

export async function startRelay(opts: {
  upstreamPort: number
  rules: McpRules
  /** Stand-in for the Rego policy: a call-time rule that reads arguments. */
  argumentRule: (toolName: string, args: unknown) => string | null
  credential: string
  maxBytes?: number
}): Promise<Relay> {
  const rules = compileMcpRules(opts.rules)
  const maxBytes = opts.maxBytes ?? 1024 * 1024
  const denied: string[] = []

  const decide = (m: McpMessage): string | null => {
    if (m.call.method !== 'tools/call' || m.call.toolName === null) return null
    const verdict = mcpToolAllowed(rules, m.call.toolName)
    if (!verdict.allowed) return verdict.reason
    return opts.argumentRule(m.call.toolName, m.call.arguments)
  }
  const send = (res: ServerResponse, r: JsonRpcReply): void => {
    res.writeHead(r.status, r.headers)
    res.end(r.body)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const decisionId = randomUUID()
    let body: Buffer | null = null
    let listIds: Set<string | number> | 'any' = 'any'
    if (req.method === 'POST') {
      const chunks: Buffer[] = []
      let size = 0
      for await (const c of req as AsyncIterable<Buffer>) {
        size += c.length
        if (size > maxBytes) break
        chunks.push(c)
      }
      body = Buffer.concat(chunks)
      const parsed = parseMcpBody(size > maxBytes ? Buffer.alloc(maxBytes + 1) : body, req.headers['content-type'], maxBytes)
      if (!parsed.ok) return send(res, jsonRpcRefusal(parsed, decisionId))
      const reasons = parsed.messages.map(decide)
      const refuseBatch = parsed.batch && rules.batches === 'refuse'
      if (refuseBatch || reasons.some((r) => r !== null)) {
        for (const m of parsed.messages) if (m.call.toolName !== null && reasons[parsed.messages.indexOf(m)] !== null) denied.push(m.call.toolName)
        if (!parsed.batch) return send(res, jsonRpcDenial(parsed.messages[0]!.call.id, reasons[0]!, decisionId, parsed.messages[0]!.call.method))
        return send(res, jsonRpcBatchDenial(parsed.messages.map((m, i) => ({
          id: m.kind === 'request' ? m.call.id : null,
          method: m.call.method,
          message: refuseBatch ? 'batches are refused for this tool' : reasons[i] ?? 'another message in this batch was denied',
        })), decisionId))
      }
      listIds = new Set(parsed.messages.filter((m) => m.kind === 'request' && m.call.method === 'tools/list').map((m) => m.call.id as string | number))
    }
    const headers: Record<string, string> = { authorization: `Bearer ${opts.credential}` } // never the agent's
    for (const h of FORWARDED) {
      const v = req.headers[h]
      if (typeof v === 'string') headers[h] = v
    }
    if (body !== null) headers['content-length'] = String(body.length)
    const up = request({ host: '127.0.0.1', port: opts.upstreamPort, method: req.method, path: req.url, headers })
    up.end(body ?? undefined)
    const [upRes] = (await once(up, 'response')) as [IncomingMessage]
    const contentType = String(upRes.headers['content-type'] ?? '')
    const filtering = listIds === 'any' || listIds.size > 0
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(upRes.headers)) {
      if (typeof v !== 'string' || k === 'connection' || k === 'transfer-encoding' || k === 'keep-alive') continue
      if (filtering && k === 'content-length') continue // the filter may change the length
      out[k] = v
    }
    res.writeHead(upRes.statusCode ?? 502, out)
    res.flushHeaders()
    if (!filtering) return pipeline(upRes, res)
    await pipeline(upRes, createToolsListFilter({ contentType, allowed: (n) => mcpToolAllowed(rules, n).allowed, requestIds: listIds, maxBytes }), res)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(502); res.destroy() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    denied,
    async close() {
      server.closeAllConnections()
      server.close()
    },
  }
}
