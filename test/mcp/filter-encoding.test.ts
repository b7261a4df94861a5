// A tools/list answer toolgate cannot read must not reach the agent unfiltered. The list filter
// (and definition pinning, which runs inside it) reads the response bytes as JSON or SSE. Two
// ways a server's answer reached the agent with those bytes unread:
//  - Content-Encoding: the agent's Accept-Encoding went to the server, the server compressed its
//    SSE answer, the filter saw binary "lines" without a data field and passed them; fetch (the
//    TypeScript SDK's transport) and httpx (the Python SDK's) decompress and read the full list;
//  - a Content-Type toolgate does not call JSON or SSE but a client does: the Python SDK takes
//    anything that starts with "application/json" or "text/event-stream" (application/json-seq,
//    text/event-streamx), toolgate passed every "other" type through.
// Against a real server (node:http, speaking Streamable HTTP), through a real toolgate, with the
// official TypeScript SDK client and fetch.
import t from 'tap'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { gzipSync, brotliCompressSync } from 'node:zlib'
import type { AddressInfo } from 'node:net'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'

type Mode = { encoding: 'gzip' | 'br' | null; contentType: string; sse: boolean; id?: (id: number) => unknown }
let mode: Mode = { encoding: null, contentType: 'application/json', sse: false }
const acceptEncodings: (string | undefined)[] = []
const TOOLS = [
  { name: 'get_x', description: 'reads x', inputSchema: { type: 'object' } },
  { name: 'delete_x', description: 'deletes x', inputSchema: { type: 'object' } },
]

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    if (req.method !== 'POST') { res.writeHead(405).end(); return }
    acceptEncodings.push(req.headers['accept-encoding'])
    const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method: string; params?: { protocolVersion?: string } }
    if (msg.id === undefined) { res.writeHead(202).end(); return }
    let result: unknown
    if (msg.method === 'initialize') result = { protocolVersion: msg.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'hostile', version: '1' } }
    else if (msg.method === 'tools/list') result = { tools: TOOLS }
    else result = {}
    const json = JSON.stringify({ jsonrpc: '2.0', id: msg.method === 'tools/list' && mode.id ? mode.id(msg.id) : msg.id, result })
    if (msg.method !== 'tools/list') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(json)
      return
    }
    let body = Buffer.from(mode.sse ? `event: message\ndata: ${json}\n\n` : json)
    const headers: Record<string, string> = { 'content-type': mode.contentType }
    if (mode.encoding === 'gzip') { body = gzipSync(body); headers['content-encoding'] = 'gzip' }
    if (mode.encoding === 'br') { body = brotliCompressSync(body); headers['content-encoding'] = 'br' }
    res.writeHead(200, headers).end(body)
  })
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const port = (server.address() as AddressInfo).port
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))

const gate = await startTestToolgate(`version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tools:
  - name: hostile-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    mcp:
      allow_tools: ["get_*"]
`)
t.teardown(() => gate.close())
const endpoint = `${gate.proxyUrl}/t/hostile-mcp/mcp`

async function sdkList(): Promise<string[] | Error> {
  const client = new Client({ name: 'agent', version: '1.0.0' })
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint)))
    const { tools } = await client.listTools(undefined, { timeout: 3000 })
    return tools.map((x) => x.name)
  } catch (err) {
    return err as Error
  } finally {
    await client.close().catch(() => {})
  }
}

/** What fetch (which decodes Content-Encoding) hands the agent for a tools/list POST. */
async function fetchList(): Promise<{ status: number; text: string } | Error> {
  try {
    const r = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'accept-encoding': 'gzip, br' }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }) })
    return { status: r.status, text: await r.text() }
  } catch (err) {
    return err as Error
  }
}

t.test('baseline: a plain listing is filtered; the agent\'s Accept-Encoding does not reach the server', async (t) => {
  mode = { encoding: null, contentType: 'text/event-stream', sse: true }
  t.same(await sdkList(), ['get_x'])
  acceptEncodings.length = 0
  const r = await fetchList()
  t.notOk(r instanceof Error)
  t.same(acceptEncodings, [undefined], 'an honest server is not asked to compress')
})

for (const encoding of ['gzip', 'br'] as const) {
  for (const sse of [true, false]) {
    t.test(`a ${encoding}-compressed ${sse ? 'SSE' : 'JSON'} listing never reaches the agent with delete_x`, async (t) => {
      mode = { encoding, contentType: sse ? 'text/event-stream' : 'application/json', sse }
      const listed = await sdkList()
      if (Array.isArray(listed)) t.same(listed, ['get_x'], 'the SDK sees only allowed tools')
      else t.pass(`the SDK got no listing (${listed.message.slice(0, 80)})`)
      const raw = await fetchList()
      if (!(raw instanceof Error)) t.notMatch(raw.text, /delete_x/, 'fetch (decoding) sees no delete_x')
    })
  }
}

for (const contentType of ['application/json-seq', 'application/jsonx', 'text/event-streamx', 'text/plain', 'application/json, text/event-stream']) {
  t.test(`a listing sent as ${JSON.stringify(contentType)} never reaches the agent with delete_x`, async (t) => {
    mode = { encoding: null, contentType, sse: contentType.includes('event-stream') && !contentType.includes('json') }
    const raw = await fetchList()
    if (!(raw instanceof Error)) t.notMatch(raw.text, /delete_x/, `${contentType}: the body passed on holds no delete_x`)
    else t.pass('cut')
  })
}

// The TypeScript SDK matches a response to its request with Number(response.id): "1", "1.0",
// " 1", "01" and "1e0" all answer request 1. The filter matched ids strictly, so a server that
// answered tools/list 1 with id "1.0" had its list passed unfiltered (and unpinned) while the SDK
// took it as the answer.
for (const [name, id] of [['"1"', (n: number) => String(n)], ['"1.0"', (n: number) => `${n}.0`], ['" 1"', (n: number) => ` ${n}`], ['"01"', (n: number) => `0${n}`], ['"1e0"', (n: number) => `${n}e0`]] as const) {
  for (const sse of [true, false]) {
    t.test(`a listing answered with id ${name} (${sse ? 'SSE' : 'JSON'}) is filtered like id 1`, async (t) => {
      mode = { encoding: null, contentType: sse ? 'text/event-stream' : 'application/json', sse, id }
      const listed = await sdkList()
      if (Array.isArray(listed)) t.same(listed, ['get_x'], 'the SDK sees only allowed tools')
      else t.pass(`the SDK got no listing (${listed.message.slice(0, 80)})`)
    })
  }
}
