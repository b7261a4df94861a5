// W3C trace context into MCP params._meta (where the MCP spec carries it). With tracing on, the
// upstream MCP server receives exactly one traceparent in each message's _meta, toolgate's
// upstream span (the same the traceparent header names, and the span the real Collector
// exported), replacing the agent's; everything else in the messages is unchanged (deep-equal apart
// from the trace members of _meta) and Content-Length matches the new bytes. With tracing off the
// bytes are forwarded unchanged. The upstream is the real echo server of test/helpers/upstream.ts
// (it answers with what it received; an MCP server's answer plays no part here).
import t from 'tap'
import { request } from 'undici'
import { startUpstream } from '../helpers/upstream.ts'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startCollector, flatSpans } from './helpers/collector.ts'

const up = await startUpstream()
t.teardown(() => up.close())
const collector = await startCollector()
t.teardown(() => collector.close())

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const AGENT_SPAN = '00f067aa0ba902b7'
const AGENT_META_SPAN = 'b7ad6b7169203331'

const tools = `tools:
  - name: mcp-echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    mcp:
      allow_tools: ["get_*"]
      tool_access: { "get_*": read }
`

/** A message as the agent sends it: its own trace context in _meta beside other _meta members. */
const message = (id: number): Record<string, unknown> => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: {
    name: 'get_thing',
    arguments: { q: 'ünïcode ✓', n: 1.5, list: [1, { deep: null }], ['__proto__']: { kept: true } },
    _meta: { progressToken: `p-${id}`, traceparent: `00-${TRACE_ID}-${AGENT_META_SPAN}-01`, tracestate: 'agent=meta', 'vendor/x': { y: 1 } },
  },
})

/** The message without the trace members of params._meta (what must arrive unchanged). */
function withoutTrace(m: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(m)) as { params?: { _meta?: Record<string, unknown> } }
  if (copy.params?._meta) {
    delete copy.params._meta['traceparent']
    delete copy.params._meta['tracestate']
  }
  return copy
}

async function post(proxyUrl: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await request(`${proxyUrl}/t/mcp-echo/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body })
  await r.body.text()
  return r.statusCode
}

t.test('tracing on: each forwarded message carries exactly toolgate\'s traceparent in _meta, nothing else changed', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}telemetry:
  service_name: toolgate-mcp-meta
  traces: { endpoint: ${collector.url}/v1/traces }
${tools}`)
  let closed = false
  t.teardown(async () => { if (!closed) await gate.close() })

  // One message, the agent's context in the traceparent header AND in _meta.
  const sent = message(1)
  const before = up.received.length
  t.equal(await post(gate.proxyUrl, JSON.stringify(sent), { traceparent: `00-${TRACE_ID}-${AGENT_SPAN}-01`, tracestate: 'agent=header' }), 200)
  const got = up.received[before]!
  t.equal(got.body.split('"traceparent"').length - 1, 1, 'one traceparent member in the forwarded body')
  const received = JSON.parse(got.body) as { params: { _meta: Record<string, unknown> } }
  const metaTp = String(received.params._meta['traceparent'])
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(metaTp)
  t.ok(m, `W3C traceparent in _meta: ${metaTp}`)
  t.equal(m?.[1], TRACE_ID, 'same trace')
  t.not(m?.[2], AGENT_SPAN, 'not the agent\'s header span')
  t.not(m?.[2], AGENT_META_SPAN, 'not the agent\'s _meta span')
  t.equal(metaTp, got.headers['traceparent'], '_meta names the same span as the traceparent header (toolgate\'s upstream span)')
  t.equal(received.params._meta['tracestate'], got.headers['tracestate'], 'tracestate replaced the same way')
  t.not(received.params._meta['tracestate'], 'agent=meta')
  t.ok(got.body.includes('"__proto__":{"kept":true}'), 'a __proto__ key stays a key')
  t.same(withoutTrace(received), withoutTrace(sent), 'deep-equal apart from the trace members of _meta')
  t.same(received.params._meta['progressToken'], 'p-1', 'other _meta members kept')
  t.equal(Number(got.headers['content-length']), Buffer.byteLength(got.body), 'Content-Length recomputed')
  t.equal(got.rawHeaders.filter((h) => h.toLowerCase() === 'content-length').length, 1)

  // A batch: every message gets it; a message without params is left alone.
  const batch = [message(2), message(3), { jsonrpc: '2.0', method: 'notifications/initialized' }]
  const before2 = up.received.length
  t.equal(await post(gate.proxyUrl, JSON.stringify(batch)), 200)
  const gotBatch = JSON.parse(up.received[before2]!.body) as { params?: { _meta: Record<string, unknown> } }[]
  t.equal(gotBatch.length, 3)
  t.same(gotBatch.map(withoutTrace), batch.map(withoutTrace), 'batch deep-equal apart from _meta trace members')
  t.equal(gotBatch[0]!.params!._meta['traceparent'], up.received[before2]!.headers['traceparent'])
  t.equal(gotBatch[1]!.params!._meta['traceparent'], up.received[before2]!.headers['traceparent'])
  t.same(gotBatch[2], batch[2], 'no params: unchanged')

  await gate.close()
  closed = true
  const spans = await collector.waitFor(() => collector.traces(), (lines) => {
    const s = flatSpans(lines).filter((x) => x.traceId === TRACE_ID && x.name === 'toolgate upstream' && x.resource['service.name'] === 'toolgate-mcp-meta')
    return s.length >= 1 ? s : null
  })
  t.ok(spans.some((s) => s.spanId === m?.[2]), 'the _meta span is the upstream span the Collector received')
})

t.test('tracing off (the default): the body is forwarded byte for byte', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}${tools}`)
  t.teardown(() => gate.close())
  // Odd but valid spacing and escapes: any re-serialisation would change them.
  const raw = `{ "jsonrpc":"2.0" ,"id":7,"method":"tools/call","params":{"name":"get_thing","arguments":{"q":"\\u00fc"},"_meta":{"traceparent":"00-${TRACE_ID}-${AGENT_META_SPAN}-01"}}}  `
  const before = up.received.length
  t.equal(await post(gate.proxyUrl, raw, { traceparent: `00-${TRACE_ID}-${AGENT_SPAN}-01` }), 200)
  const got = up.received[before]!
  t.equal(got.body, raw, 'same bytes')
  t.equal(Number(got.headers['content-length']), Buffer.byteLength(raw))
})
