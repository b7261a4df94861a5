// Attacks on MCP inspection, each against real servers through a real toolgate (embedded default
// policy, tasks not required so the calls pass the policy): an Express server on the official
// TypeScript SDK (the SDK examples' shape, which routes /MCP, /mcp/ and /mcp/anything to its MCP
// handler) and servers on the official Go SDK at v1.2.0 (before the CVE-2026-27896 fix: keys
// matched case-insensitively, last match wins) and at the current version. Every tool has an
// `mcp` section and no `routes` (the shape docs/mcp.md shows) and allows get_* only. Each case
// here was forwarded to the server by toolgate before issue 15.

import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startExpressMcpServer } from './helpers/express-server.ts'
import { startGoMcpServer } from './helpers/go-server.ts'

const express = await startExpressMcpServer()
const goVulnerable = await startGoMcpServer('vulnerable')
const goCurrent = await startGoMcpServer('current')
t.teardown(async () => { await express.close(); await goVulnerable.close(); await goCurrent.close() })

const mcpTool = (name: string, port: number, extra = ''): string => `  - name: ${name}
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    mcp:
      allow_tools: ["get_*"]${extra}
`
const gate = await startTestToolgate(`version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tools:
${mcpTool('express-mcp', express.port)}${mcpTool('go-vulnerable', goVulnerable.port)}${mcpTool('go-current', goCurrent.port)}`)
t.teardown(() => gate.close())

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const callBody = (name: string, id = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; json: { id?: unknown; error?: { code: number; message: string; data?: { decision_id?: string } }; result?: { isError?: boolean; content?: { text: string }[] } } | null }
async function send(url: string, method: string, body: string | undefined, headers: Record<string, string> = HEADERS): Promise<Answer> {
  const r = await request(url, { method: method as 'POST', headers, ...(body !== undefined ? { body } : {}) })
  const text = await r.body.text()
  let json: Answer['json'] = null
  try { json = JSON.parse(text) as Answer['json'] } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers, json }
}
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
}
const via = (tool: string, path: string): string => `${gate.proxyUrl}/t/${tool}${path}`
const recordsOf = (id: string | undefined): unknown[] => gate.records.filter((r) => r['id'] === id)

t.test('endpoint variants: the Express server routes them to its MCP handler (so they matter)', async (t) => {
  for (const path of ['/MCP', '/mcp/', '/mcp/anything', '/Mcp/x/y']) {
    const r = await send(`http://127.0.0.1:${express.port}${path}`, 'POST', callBody('get_x'))
    t.equal(r.status, 200, `${path} reaches the handler directly`)
    t.match(r.json?.result?.content?.[0]?.text, 'ran get_x')
  }
})

t.test('endpoint variants are refused by toolgate and never reach the server', async (t) => {
  const before = express.requests.length
  for (const path of ['/mcp/', '/MCP', '/mcp;x', '/mcp/anything', '/Mcp/', '/%4Dcp', '/%6d%63%70/', '/mcp%3Bx', '/mcp;/', '/MCP/tools']) {
    const r = await send(via('express-mcp', path), 'POST', callBody('delete_x'))
    t.equal(r.status, 400, `${path}: 400`)
    t.equal(r.json?.error?.code, -32600, `${path}: JSON-RPC invalid request`)
    t.match(r.json?.error?.message, /variant of the MCP endpoint/)
    t.equal(recordsOf(r.json?.error?.data?.decision_id).length, 1, `${path}: one record`)
  }
  t.equal(express.requests.length, before, 'nothing reached the server')
  t.notOk(express.calls.some((c) => c.name === 'delete_x'))
})

t.test('the endpoint itself: allowed calls work, denied ones are answered by toolgate', async (t) => {
  const ok = await send(via('express-mcp', '/mcp'), 'POST', callBody('get_x'))
  t.equal(ok.status, 200)
  t.match(ok.json?.result?.content?.[0]?.text, 'ran get_x')
  const denied = await send(via('express-mcp', '/mcp'), 'POST', callBody('delete_x'))
  t.equal(denied.json?.result?.isError, true)
  t.notOk(express.calls.some((c) => c.name === 'delete_x'))
})

t.test('other methods, and bodies where none belongs, are refused with a JSON-RPC error', async (t) => {
  const before = express.requests.length
  for (const method of ['PUT', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND']) {
    const r = await send(via('express-mcp', '/mcp'), method, method === 'HEAD' || method === 'OPTIONS' ? undefined : callBody('delete_x'))
    t.equal(r.status, 405, `${method}: 405`)
    if (method !== 'HEAD') t.equal(r.json?.error?.code, -32600, `${method}: JSON-RPC error`)
    t.equal(r.headers['allow'], 'POST, GET, DELETE')
  }
  for (const method of ['GET', 'DELETE']) {
    const r = await send(via('express-mcp', '/mcp'), method, callBody('delete_x'))
    t.equal(r.status, 400, `${method} with a body: 400`)
    t.match(r.json?.error?.message, /with a body on the MCP endpoint/)
  }
  t.equal(express.requests.length, before, 'nothing reached the server')
})

t.test('a tool with mcp and no routes allows nothing but its endpoint', async (t) => {
  const before = express.requests.length
  for (const [method, path] of [['GET', '/admin'], ['POST', '/other'], ['GET', '/']] as const) {
    const r = await send(via('express-mcp', path), method, method === 'POST' ? callBody('delete_x') : undefined)
    t.equal(r.status, 403, `${method} ${path}: 403`)
  }
  t.equal(express.requests.length, before)
})

t.test('folded keys: the vulnerable Go server really runs the smuggled tool (direct, no toolgate)', async (t) => {
  const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","Name":"delete_x","arguments":{}}}'
  const r = await send(`http://127.0.0.1:${goVulnerable.port}/mcp`, 'POST', body)
  t.equal(r.status, 200)
  t.match(r.json?.result?.content?.[0]?.text, 'ran delete_x', 'go-sdk v1.2.0 ran delete_x: the last case-insensitive match wins')
  await until(() => goVulnerable.ran.length > 0)
  t.equal(goVulnerable.ran.shift(), 'delete_x {}')
})

const smuggled: Record<string, string> = {
  'name + Name': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","Name":"delete_x","arguments":{}}}',
  'name + NAME': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","NAME":"delete_x"}}',
  'name + nAme (escaped)': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","\\u004eame":"delete_x"}}',
  'name + NUL-suffixed name': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","name\\u0000":"delete_x"}}',
  'argumentſ (U+017F)': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","argument\u017f":{"repo":"acme/secret"}}}',
  'params + Params': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x"},"Params":{"name":"delete_x"}}',
  'method + Method': '{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"delete_x"}}',
  'Kelvin sign in a deep key': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","arguments":{"o":{"\u212aey":1,"key":2}}}}',
}

t.test('folded keys are refused by toolgate: neither Go server runs anything', async (t) => {
  for (const tool of ['go-vulnerable', 'go-current'] as const) {
    const server = tool === 'go-vulnerable' ? goVulnerable : goCurrent
    const before = server.ran.length
    for (const [name, body] of Object.entries(smuggled)) {
      const r = await send(via(tool, '/mcp'), 'POST', body)
      t.equal(r.status, 400, `${tool}, ${name}: 400`)
      t.equal(r.json?.error?.code, -32600, `${tool}, ${name}: -32600`)
      t.equal(recordsOf(r.json?.error?.data?.decision_id).length, 1)
    }
    // A tool that ran would print before its HTTP answer is sent; give stdout a moment anyway.
    await new Promise((r) => setTimeout(r, 100))
    t.same(server.ran.slice(before), [], `${tool} ran nothing`)
  }
})

t.test('the official TypeScript SDK client works through toolgate against the Go SDK server', async (t) => {
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(via('go-current', '/mcp'))))
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.same(tools.map((x) => x.name), ['get_x'], 'the listing is filtered')
  const r = await client.callTool({ name: 'get_x', arguments: { repo: 'acme/app' } })
  t.match((r.content as { text: string }[])[0]!.text, 'ran get_x')
  await until(() => goCurrent.ran.length > 0)
  t.equal(goCurrent.ran.at(-1), 'get_x {"repo":"acme/app"}')
  const denied = await client.callTool({ name: 'delete_x', arguments: {} })
  t.equal(denied.isError, true)
  t.notOk(goCurrent.ran.some((x) => x.startsWith('delete_x')))
})

t.test('batch amplification: one 1 MiB POST of 33,000 messages is refused before any is decided', async (t) => {
  const one = '{"jsonrpc":"2.0","method":"a"}'
  const body = `[${Array.from({ length: 33000 }, () => one).join(',')}]`
  t.ok(body.length <= 1024 * 1024, `${body.length} bytes, within limits.max_inspected_body_bytes`)
  const recordsBefore = gate.records.length
  const started = performance.now()
  const r = await send(via('express-mcp', '/mcp'), 'POST', body)
  const ms = performance.now() - started
  t.equal(r.status, 413)
  t.match(r.json?.error?.message, /more than 16 messages in one request/)
  t.equal(gate.records.length - recordsBefore, 1, 'one record, not 33,000')
  t.ok(ms < 3000, `answered in ${ms.toFixed(0)} ms`)
  t.comment(`33,000-message batch refused in ${ms.toFixed(0)} ms`)
})

t.test('a batch within the limit gets one record with every message outcome', async (t) => {
  const body = JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_x' } },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_x' } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
  ])
  const recordsBefore = gate.records.length
  const r = await send(via('express-mcp', '/mcp'), 'POST', body)
  t.equal(r.status, 200)
  t.equal(gate.records.length - recordsBefore, 1, 'one record for the request')
  const rec = gate.records.at(-1)!
  const outcomes = rec['mcp_messages'] as { index: number; tool: string | null; decision: string }[]
  t.same(outcomes.map((o) => [o.index, o.tool, o.decision]), [[0, 'get_x', 'allow'], [1, 'delete_x', 'deny'], [2, null, 'allow']])
  t.equal(rec['decision'], 'deny')
  t.notOk(express.calls.some((c) => c.name === 'delete_x'))
})

t.test('tool names outside the MCP rule are refused', async (t) => {
  for (const name of ['get x', 'get_x/../delete', 'get_é', 'get_' + 'x'.repeat(130), 'get:x']) {
    const r = await send(via('express-mcp', '/mcp'), 'POST', callBody(name))
    t.equal(r.json?.result?.isError, true, `${JSON.stringify(name.slice(0, 20))} denied`)
    t.match(r.json?.result?.content?.[0]?.text, /not an MCP tool name/)
  }
})

t.test('an argument key in another case than the schema property is refused once the tool is pinned', async (t) => {
  // The Go SDK's own schema validation happens to refuse "Repo" here (its generated schemas say
  // additionalProperties: false); a server whose schema allows other properties, or that unmarshals
  // arguments into a struct without validating, reads "Repo" as repo, while a policy rule on
  // input.mcp.arguments.repo sees nothing. toolgate refuses the case variant once it has seen the schema.
  const body = JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'get_x', arguments: { Repo: 'acme/secret' } } })
  const list = await send(via('go-vulnerable', '/mcp'), 'POST', JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }))
  t.equal(list.status, 200, 'listed through toolgate: the definition with its input schema is pinned')
  const count = goVulnerable.ran.length
  const r = await send(via('go-vulnerable', '/mcp'), 'POST', body)
  t.equal(r.json?.result?.isError, true)
  t.match(r.json?.result?.content?.[0]?.text, /argument "Repo" is a case variant of the tool's schema property "repo"/)
  const ok = await send(via('go-vulnerable', '/mcp'), 'POST', JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'get_x', arguments: { repo: 'acme/app' } } }))
  t.match(ok.json?.result?.content?.[0]?.text, 'ran get_x', 'the exact spelling passes')
  await until(() => goVulnerable.ran.length > count)
  t.same(goVulnerable.ran.slice(count), ['get_x {"repo":"acme/app"}'])
})

t.test('MCP 2025-11-25 and 2025-06-18 still work through toolgate against go-sdk v1.2.0', async (t) => {
  // The TypeScript SDK client (1.32.2) always offers its latest revision, 2025-11-25.
  const client = new Client({ name: 'agent', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(via('go-vulnerable', '/mcp')))
  await client.connect(transport)
  t.teardown(() => client.close())
  t.equal(transport.protocolVersion, '2025-11-25')
  const count = goVulnerable.ran.length
  const r = await client.callTool({ name: 'get_x', arguments: { repo: 'acme/old' } })
  t.match((r.content as { text: string }[])[0]!.text, 'ran get_x')
  // 2025-06-18, as a client of that revision sends it: initialize, then calls with the version header.
  const init = await send(via('go-vulnerable', '/mcp'), 'POST', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'old', version: '1' } } }))
  t.match(init.json?.result, { protocolVersion: '2025-06-18' })
  const call = await send(via('go-vulnerable', '/mcp'), 'POST', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_x', arguments: { repo: 'acme/older' } } }))
  t.match(call.json?.result?.content?.[0]?.text, 'ran get_x')
  await until(() => goVulnerable.ran.length >= count + 2)
  t.same(goVulnerable.ran.slice(count), ['get_x {"repo":"acme/old"}', 'get_x {"repo":"acme/older"}'])
})

t.test('a WebSocket upgrade on the MCP endpoint is refused (an upgrade is never MCP)', async (t) => {
  const { request: httpRequest } = await import('node:http')
  const before = express.requests.length
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(via('express-mcp', '/mcp'), { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101) })
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 400)
  t.equal(express.requests.length, before)
})
