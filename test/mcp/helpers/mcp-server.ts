// A real MCP server (official TypeScript SDK, Streamable HTTP transport, stateful sessions) on a
// real node http server at 127.0.0.1:0, with tools that the toolgate tests allow, deny, filter and
// stream. It records what reached it (tool calls, Authorization headers, session ids) so tests can
// prove that a denied call never arrived and that the agent's token was never passed through.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

export interface McpFixture {
  url: string
  port: number
  /** Tool calls that reached the server: name and arguments. */
  calls: { name: string; args: unknown }[]
  /** Every request that reached the server. */
  requests: { method: string; authorization: string | undefined; sessionId: string | undefined }[]
  /** Session ids the server issued. */
  sessions: string[]
  /** Enables the tool admin_purge in every session (sends notifications/tools/list_changed). */
  enableAdminTool(): void
  close(): Promise<void>
}

export async function startMcpServer(opts: { json: boolean }): Promise<McpFixture> {
  const calls: McpFixture['calls'] = []
  const requests: McpFixture['requests'] = []
  const sessions: string[] = []
  const transports = new Map<string, StreamableHTTPServerTransport>()
  const adminTools: { enable(): void }[] = []

  const build = (): McpServer => {
    const server = new McpServer({ name: 'fixture', version: '1.0.0' }, { capabilities: { logging: {}, tools: { listChanged: true } } })
    const text = (s: string) => ({ content: [{ type: 'text' as const, text: s }] })
    server.registerTool('get_issue', { description: 'Read an issue', inputSchema: { repo: z.string(), number: z.number().int() } }, async (args) => {
      calls.push({ name: 'get_issue', args })
      return text(`issue ${args.repo}#${args.number}: it works`)
    })
    server.registerTool('list_issues', { description: 'List issues', inputSchema: { repo: z.string() } }, async (args) => {
      calls.push({ name: 'list_issues', args })
      return text(`issues of ${args.repo}: #1, #2`)
    })
    server.registerTool('echo', { description: 'Echo text', inputSchema: { text: z.string() } }, async (args) => {
      calls.push({ name: 'echo', args })
      return text(args.text)
    })
    server.registerTool('delete_repo', { description: 'Delete a repository', inputSchema: { repo: z.string() } }, async (args) => {
      calls.push({ name: 'delete_repo', args })
      return text(`deleted ${args.repo}`)
    })
    server.registerTool('slow_count', { description: 'Counts with progress', inputSchema: { n: z.number().int() } }, async (args, extra) => {
      calls.push({ name: 'slow_count', args })
      const token = extra._meta?.progressToken
      for (let i = 1; i <= args.n; i++) {
        if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: args.n, message: `step ${i}` } })
        await new Promise((r) => setTimeout(r, 2))
      }
      return text(Array.from({ length: args.n }, (_, i) => `line ${i + 1}`).join('\n'))
    })
    const admin = server.registerTool('admin_purge', { description: 'Purge everything', inputSchema: {} }, async () => {
      calls.push({ name: 'admin_purge', args: {} })
      return text('purged')
    })
    admin.disable()
    adminTools.push(admin)
    return server
  }

  const http: Server = createServer((req: IncomingMessage, res) => {
    const sid = req.headers['mcp-session-id']
    const sessionId = typeof sid === 'string' ? sid : undefined
    requests.push({ method: req.method ?? '', authorization: req.headers.authorization, sessionId })
    void (async () => {
      let transport = sessionId ? transports.get(sessionId) : undefined
      if (!transport) {
        const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: opts.json,
          onsessioninitialized: (id) => { transports.set(id, created); sessions.push(id) },
        })
        await build().connect(created)
        transport = created
      }
      await transport.handleRequest(req, res)
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(err))
    })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const port = (http.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    calls,
    requests,
    sessions,
    enableAdminTool: () => { for (const t of adminTools) t.enable() },
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {})
      http.closeAllConnections()
      http.close()
    },
  }
}
