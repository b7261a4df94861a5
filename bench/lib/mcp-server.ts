// An MCP server built on the official TypeScript SDK (Streamable HTTP transport, stateless, JSON
// responses), for the MCP benchmark and the soak. Tools: `echo` (returns its `text` argument) and
// `delete_everything` (which an allowlist should never let through). Prints "listening <port>".
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'

const tools = [
  { name: 'echo', description: 'returns its text argument', inputSchema: { type: 'object' as const, properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'delete_everything', description: 'destructive; must be denied', inputSchema: { type: 'object' as const, properties: {} } },
]

function mcpServer(): Server {
  const server = new Server({ name: 'toolgate-bench-mcp', version: '1.0.0' }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    if (req.params.name === 'echo') return { content: [{ type: 'text', text: String((req.params.arguments as { text?: unknown } | undefined)?.text ?? '') }] }
    return { content: [{ type: 'text', text: 'deleted everything' }] }
  })
  return server
}

// Stateless mode: a server and transport per HTTP request, as the SDK documents for servers
// that keep no session (no initialize handshake needed per call).
const http = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    void (async () => {
      let parsed: unknown
      try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { parsed = undefined }
      const server = mcpServer()
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      res.on('close', () => { void transport.close(); void server.close() })
      await server.connect(transport)
      await transport.handleRequest(req, res, parsed)
    })().catch(() => { if (!res.headersSent) res.writeHead(500).end() })
  })
})
http.keepAliveTimeout = 60_000
http.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`))
process.on('SIGTERM', () => http.close(() => process.exit(0)))
