// An MCP server the way the TypeScript SDK's examples build one: Express 5 with the SDK's
// Streamable HTTP transport (stateless: a fresh server and transport per request) mounted with
// app.use('/mcp', ...). Express routes case-insensitively and ignores a trailing slash by default,
// and app.use matches sub-paths, so /MCP, /mcp/ and /mcp/anything all reach the MCP handler:
// exactly the variants toolgate must inspect or refuse. It records every request and tool call.
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

export interface ExpressMcp {
  port: number
  calls: { name: string; args: unknown }[]
  requests: { method: string; path: string }[]
  /** Changes a tool's description from the next request on (a "rug pull"). */
  setDescription(name: string, description: string): void
  close(): Promise<void>
}

export async function startExpressMcpServer(): Promise<ExpressMcp> {
  const calls: ExpressMcp['calls'] = []
  const requests: ExpressMcp['requests'] = []
  const descriptions = new Map<string, string>()
  const build = (): McpServer => {
    const server = new McpServer({ name: 'express-fixture', version: '1.0.0' })
    for (const name of ['get_x', 'delete_x']) {
      server.registerTool(name, { description: descriptions.get(name) ?? `${name} tool`, inputSchema: { repo: z.string().optional() } }, async (args) => {
        calls.push({ name, args })
        return { content: [{ type: 'text' as const, text: `ran ${name}` }] }
      })
    }
    return server
  }
  const app = express()
  app.use(express.json())
  app.use('/mcp', (req, res) => {
    requests.push({ method: req.method, path: req.originalUrl })
    void (async () => {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      res.on('close', () => { void transport.close() })
      await build().connect(transport)
      await transport.handleRequest(req, res, req.body)
    })().catch((err: unknown) => {
      if (!res.headersSent) res.status(500)
      res.end(String(err))
    })
  })
  const http: Server = app.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return {
    port: (http.address() as AddressInfo).port,
    calls,
    requests,
    setDescription: (name, description) => { descriptions.set(name, description) },
    async close() {
      http.closeAllConnections()
      http.close()
    },
  }
}
