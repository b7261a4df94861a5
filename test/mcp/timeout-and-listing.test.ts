// Through a real toolgate, a real MCP client (official TypeScript SDK) and a real MCP server
// (SDK, Streamable HTTP, JSON responses, on loopback):
//  - a tools/call slower than the tool's response_headers_ms comes back as a tool result with
//    isError, saying the call may have run on the server, with the decision id; not a transport
//    error (which the SDK would throw, and a host would retry);
//  - tools/list annotates the tool the default policy would deny without a task (execute access),
//    decided by actually evaluating the policy: the same listing with an issued-looking task
//    context, or a policy that needs no task, leaves it alone.

import t from 'tap'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'

const calls: string[] = []
/** A stateless SDK server: each POST gets a fresh server and transport (JSON responses, so headers wait for the result; SSE responses start at once). */
const serve = (json: boolean): Server => createServer((req, res) => {
  void (async () => {
    const server = new McpServer({ name: 'slow', version: '1.0.0' })
    server.registerTool('wait', { description: 'Waits', inputSchema: { ms: z.number().int() } }, async ({ ms }) => {
      calls.push(`wait ${ms}`)
      await new Promise((r) => setTimeout(r, ms))
      return { content: [{ type: 'text' as const, text: `waited ${ms}` }] }
    })
    server.registerTool('write_note', { description: 'Writes a note', inputSchema: { text: z.string() } }, async ({ text }) => {
      calls.push(`write ${text}`)
      return { content: [{ type: 'text' as const, text: 'written' }] }
    })
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json })
    res.on('close', () => { void transport.close(); void server.close() })
    await server.connect(transport)
    await transport.handleRequest(req, res)
  })().catch(() => { if (!res.headersSent) res.writeHead(500); res.end() })
})
async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return (server.address() as AddressInfo).port
}
const port = await listen(serve(true))
const ssePort = await listen(serve(false))

const tool = (policyData: string, timeouts = 'response_headers_ms: 300', p = port) => `version: 1
${testListeners}${policyData}tools:
  - name: slow-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${p} }
    routes:
      - { methods: [POST, GET, DELETE], path: "/mcp", access: read }
    timeouts: { ${timeouts} }
    mcp:
      path: /mcp
      allow_tools: ["*"]
      tool_access: { wait: read }
`

async function connect(proxyUrl: string): Promise<Client> {
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${proxyUrl}/t/slow-mcp/mcp`)))
  return client
}

const textOf = (r: unknown): string => (((r as { content?: unknown }).content as { text: string }[]) ?? []).map((c) => c.text).join('\n')

t.test('an MCP tool call that times out is a tool result saying it may have run', async (t) => {
  const gate = await startTestToolgate(tool(''))
  t.teardown(() => gate.close())
  const client = await connect(gate.proxyUrl)
  t.teardown(() => client.close())
  const quick = await client.callTool({ name: 'wait', arguments: { ms: 1 } })
  t.equal(textOf(quick), 'waited 1', 'a call within the timeout works')
  // undici checks the headers timer on a coarse (~1 s) tick: 2.5 s is well past 300 ms.
  const r = await client.callTool({ name: 'wait', arguments: { ms: 2500 } })
  t.equal(r.isError, true)
  t.match(textOf(r), /^toolgate: the MCP tool call "wait" failed: upstream sent no response headers within 300 ms \(upstream_headers_timeout\); it may have run on the server: check its effect before calling it again \(decision [0-9a-f-]{36}\)$/)
  const id = (r._meta as Record<string, string>)['toolgate/decision_id']
  t.match(gate.records.find((rec) => rec['id'] === id), { status: 200, failure: { kind: 'upstream_headers_timeout' }, mcp: { tool: 'wait' } }, 'recorded as the failure it was, answered 200')
  t.ok(calls.includes('wait 2500'), 'the server did receive the call (which is why the text says it may have run)')
})

t.test('an SSE answer whose server goes silent ends with a tool result event, not a cut stream', async (t) => {
  const gate = await startTestToolgate(tool('', 'idle_ms: 300', ssePort))
  t.teardown(() => gate.close())
  const client = await connect(gate.proxyUrl)
  t.teardown(() => client.close())
  const r = await client.callTool({ name: 'wait', arguments: { ms: 2600 } })
  t.equal(r.isError, true)
  t.match(textOf(r), /^toolgate: the MCP tool call "wait" failed: upstream response body was silent for 300 ms \(upstream_idle\); it may have run on the server/)
  const id = (r._meta as Record<string, string>)['toolgate/decision_id']
  t.match(gate.records.find((rec) => rec['id'] === id), { status: 200, upstream_status: 200, failure: { kind: 'upstream_idle' } })
})

t.test('tools/list annotates a tool the policy would deny without a task', async (t) => {
  const gate = await startTestToolgate(tool(''))
  t.teardown(() => gate.close())
  const client = await connect(gate.proxyUrl)
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  const byName = new Map(tools.map((x) => [x.name, x]))
  t.same([...byName.keys()].sort(), ['wait', 'write_note'], 'no tool is removed')
  t.equal(byName.get('wait')!.description, 'Waits', 'a tool the agent may call is left as the server described it')
  t.equal(byName.get('write_note')!.description, 'Writes a note\n\n[toolgate: calling this tool now would be denied: execute access to tool slow-mcp needs a task that declares it]')
  t.equal((byName.get('write_note')!._meta as Record<string, string>)['toolgate/denied'], 'execute access to tool slow-mcp needs a task that declares it')
  // The annotation is advice: the call is still decided, and denied, when it is made.
  const r = await client.callTool({ name: 'write_note', arguments: { text: 'x' } })
  t.equal(r.isError, true)
  t.match(textOf(r), /denied by toolgate: execute access to tool slow-mcp needs a task/)
  t.notOk(calls.some((c) => c.startsWith('write')), 'the denied call never reached the server')
})

t.test('the annotation follows the policy: with no task required, nothing is annotated', async (t) => {
  const gate = await startTestToolgate(tool('policy:\n  data: { task_required_for: [] }\n'))
  t.teardown(() => gate.close())
  const client = await connect(gate.proxyUrl)
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.same(tools.map((x) => [x.name, x.description]).sort(), [['wait', 'Waits'], ['write_note', 'Writes a note']])
})
