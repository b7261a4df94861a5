// SSE filter evasion through the real pipeline: a tools/list result replayed on the GET stream
// when the client resumes with Last-Event-ID. The upstream is a plain node:http server scripted to
// replay (a resumable MCP server's event store does exactly this; scripting it keeps the replayed
// bytes under the test's control). The agent's view is read with eventsource-parser, the SSE parser
// of the official TypeScript SDK client.

import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { createParser } from 'eventsource-parser'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

const seen: { method: string; lastEventId: string | undefined }[] = []
const tools = (...names: string[]): unknown => names.map((name) => ({ name, description: name, inputSchema: { type: 'object' } }))
const upstream = createServer((req, res) => {
  seen.push({ method: req.method ?? '', lastEventId: req.headers['last-event-id'] as string | undefined })
  if (req.method !== 'GET') { res.writeHead(405).end(); return }
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  // The replay: the answer to an earlier tools/list, then whitespace- and CR-tricks, then more.
  res.write(`id: 7\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 3, result: { tools: tools('get_x', 'delete_x') } })}\n\n`)
  res.write(`id: 8\rdata: \u00a0${JSON.stringify({ jsonrpc: '2.0', id: 4, result: { tools: tools('delete_x') } })}\r\r`)
  res.write(`id: 9\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'still streaming' } })}\n\n`)
  res.end()
})
await listenOnLoopback(upstream, t)

const gate = await startTestToolgate(`version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tools:
  - name: replay-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${(upstream.address() as AddressInfo).port} }
    mcp:
      allow_tools: ["get_*"]
`)
t.teardown(() => gate.close())

t.test('a tools/list result replayed on a resumed GET stream is filtered like any other', async (t) => {
  const r = await request(`${gate.proxyUrl}/t/replay-mcp/mcp`, { method: 'GET', headers: { accept: 'text/event-stream', 'last-event-id': '6', 'mcp-session-id': 's-1' } })
  t.equal(r.statusCode, 200)
  const text = await r.body.text()
  t.same(seen.at(-1), { method: 'GET', lastEventId: '6' }, 'Last-Event-ID reached the server')
  const events: string[] = []
  const p = createParser({ onEvent: (e) => { events.push(e.data) } })
  p.feed(text + '\n')
  const listed = events.flatMap((d) => {
    try { return ((JSON.parse(d) as { result?: { tools?: { name: string }[] } }).result?.tools ?? []).map((x) => x.name) } catch { return [] }
  })
  t.same(listed, ['get_x'], 'only the allowed tool is shown')
  t.notOk(text.includes('delete_x'), 'the hidden tool is nowhere in the stream (the NBSP-prefixed event is dropped)')
  t.match(text, /still streaming/, 'the stream goes on after a dropped event')
})
