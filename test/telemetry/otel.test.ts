// OpenTelemetry end to end with a real Collector (OTLP/HTTP receiver, file exporter) started
// here: a call's trace goes agent -> toolgate -> upstream with the decision id on the spans, the
// upstream receives toolgate's child context; records (every kind) arrive as OTLP log records
// linked to the trace; no secret or query value reaches the collector; an unreachable
// collector never blocks a call and the dropped records are counted; with telemetry off the
// agent's trace headers pass unchanged.
import t from 'tap'
import fc from 'fast-check'
import { startUpstream } from '../helpers/upstream.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startCollector, flatSpans, flatLogs, freePort } from './helpers/collector.ts'

const up = await startUpstream()
t.teardown(() => up.close())
const collector = await startCollector()
t.teardown(() => collector.close())

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const AGENT_SPAN = '00f067aa0ba902b7'
const SECRET = 'query-secret-value-81c2'
const AGENT_AUTH = 'Bearer agent-token-must-not-leak-5521'

const tools = `tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { name: reads, methods: [GET], path: "/r/**" }
`

t.test('a call is traced end to end with its decision id; records arrive as OTLP logs', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}telemetry:
  service_name: toolgate-test
  traces: { endpoint: ${collector.url}/v1/traces }
  logs: { endpoint: ${collector.url}/v1/logs, interval_ms: 100 }
${tools}`)
  let closed = false
  t.teardown(async () => { if (!closed) await gate.close() })
  const before = up.received.length
  const ok = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/r/1?key=${SECRET}`, {
    headers: { traceparent: `00-${TRACE_ID}-${AGENT_SPAN}-01`, tracestate: 'vendor=agent', authorization: AGENT_AUTH },
  })
  t.equal(ok.status, 200)
  const denied = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/forbidden`)
  t.equal(denied.status, 403)
  const deniedId = denied.json<{ error: { decision_id: string } }>().error.decision_id
  t.match(deniedId, /^[0-9a-f-]{36}$/, 'the denial names its decision')

  // What the upstream got: toolgate's context in the same trace, the agent's own span replaced.
  const got = up.received[before]!
  const tp = String(got.headers['traceparent'])
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(tp)
  t.ok(m, `traceparent forwarded in W3C form: ${tp}`)
  t.equal(m?.[1], TRACE_ID, 'same trace')
  t.not(m?.[2], AGENT_SPAN, 'parent is toolgate\'s upstream span, not the agent\'s')
  t.equal(got.headers['tracestate'], 'vendor=agent', 'tracestate carried along')
  t.equal(got.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent').length, 1, 'one traceparent, not the agent\'s beside ours')

  const record = gate.records.find((r) => r['tool'] === 'echo' && r['decision'] === 'allow')!
  t.equal(record['trace_id'], TRACE_ID, 'the decision record names the trace')
  await gate.close()
  closed = true

  const spans = await collector.waitFor(() => collector.traces(), (lines) => {
    const s = flatSpans(lines).filter((x) => x.traceId === TRACE_ID)
    return s.length >= 3 ? s : null
  })
  const root = spans.find((s) => s.name === 'toolgate call')!
  t.ok(root, 'the call span')
  t.equal(root.parentSpanId, AGENT_SPAN, 'child of the agent\'s span')
  t.equal(root.kind, 2, 'SERVER')
  t.equal(root.resource['service.name'], 'toolgate-test')
  t.match(root.attributes, { 'toolgate.decision_id': record['id'], 'toolgate.decision': 'allow', 'toolgate.tool': 'echo', 'toolgate.route': '/r/**', 'http.request.method': 'GET', 'url.path': '/r/1', 'http.response.status_code': 200 })
  const decide = spans.find((s) => s.name === 'toolgate decide')!
  t.equal(decide.parentSpanId, root.spanId)
  t.equal(decide.attributes['toolgate.decision_id'], record['id'])
  const upstream = spans.find((s) => s.name === 'toolgate upstream')!
  t.equal(upstream.parentSpanId, root.spanId)
  t.equal(upstream.kind, 3, 'CLIENT')
  t.equal(upstream.spanId, m?.[2], 'the upstream got the upstream span\'s context')

  // The denied call has its own trace (no traceparent from the agent), with stage and decision.
  const deniedSpan = await collector.waitFor(() => collector.traces(), (lines) => flatSpans(lines).find((s) => s.name === 'toolgate call' && s.attributes['toolgate.decision_id'] === deniedId))
  t.match(deniedSpan.attributes, { 'toolgate.decision': 'deny', 'toolgate.stage': 'allowlist', 'toolgate.tool': 'echo', 'http.response.status_code': 403 })
  t.equal(deniedSpan.attributes['toolgate.route'], undefined, 'no route matched')

  // Records as OTLP logs: the same fields in the body, linked to the call's trace.
  const logs = await collector.waitFor(() => collector.logs(), (lines) => {
    const l = flatLogs(lines)
    return l.some((x) => (x.body as Record<string, unknown>)?.['id'] === deniedId) && l.some((x) => (x.body as Record<string, unknown>)?.['id'] === record['id']) ? l : null
  })
  const allowLog = logs.find((x) => (x.body as Record<string, unknown>)['id'] === record['id'])!
  t.equal(allowLog.traceId, TRACE_ID, 'log record in the call\'s trace')
  t.equal(allowLog.spanId, root.spanId)
  t.equal(allowLog.attributes['toolgate.decision_id'], record['id'])
  t.equal(allowLog.eventName, 'toolgate.decision')
  t.match(allowLog.body, { type: 'decision', tool: 'echo', decision: 'allow', path: '/r/1', query: 'key=_', status: 200 })

  const everything = JSON.stringify([collector.traces(), collector.logs()])
  t.notMatch(everything, SECRET, 'no query value in spans or logs')
  t.notMatch(everything, 'agent-token-must-not-leak', 'no header value in spans or logs')
})

t.test('an unreachable collector never blocks a call; records that cannot be exported are counted as dropped', async (t) => {
  const dead = await freePort()
  // Nothing is sent before the stop (long interval, large batch): 3 records fill the queue, 5 are dropped.
  const gate = await startTestToolgate(`version: 1
${testListeners}telemetry:
  traces: { endpoint: http://127.0.0.1:${dead}/v1/traces, timeout_ms: 200 }
  logs: { endpoint: http://127.0.0.1:${dead}/v1/logs, max_queue: 3, max_batch: 100, interval_ms: 60000, timeout_ms: 200 }
${tools}`)
  const started = Date.now()
  for (let i = 0; i < 8; i++) t.equal((await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/r/${i}`)).status, 200)
  t.ok(Date.now() - started < 5000, 'calls answered without waiting for the collector')
  const dropped = async (reason: string) => Number(new RegExp(`toolgate_otlp_log_records_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(await gate.tg.metrics.registry.metrics())?.[1] ?? 0)
  t.equal(await dropped('queue_full'), 5, 'records beyond max_queue are dropped and counted')
  const closing = Date.now()
  await gate.close()
  t.ok(Date.now() - closing < 5000, 'stopping is bounded by the export deadline')
  t.equal(await dropped('export_failed'), 3, 'the queued ones fail to export at the stop, counted')
  t.equal(gate.records.length, 8, 'the record stream itself lost nothing')
})

t.test('attacker trace headers: malformed, repeated or random values never reach the upstream; it gets exactly one well-formed traceparent', async (t) => {
  const dead = await freePort()
  const gate = await startTestToolgate(`version: 1
${testListeners}telemetry:
  traces: { endpoint: http://127.0.0.1:${dead}/v1/traces, timeout_ms: 100, max_queue: 16 }
${tools}`)
  t.teardown(() => gate.close())
  const W3C = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/
  const send = async (headers: Record<string, string>) => {
    const before = up.received.length
    const r = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/r/p`, { headers })
    if (r.status !== 200) return `status ${r.status}`
    const got = up.received[before]!
    const tps = got.rawHeaders.filter((_, i) => i % 2 === 0 && got.rawHeaders[i]!.toLowerCase() === 'traceparent')
    return tps.length === 1 && W3C.test(String(got.headers['traceparent'])) ? String(got.headers['traceparent']) : `upstream got ${JSON.stringify(got.headers['traceparent'])}`
  }
  // The all-zero trace id is invalid: a new trace, not the agent's.
  const zero = await send({ traceparent: `00-${'0'.repeat(32)}-${AGENT_SPAN}-01` })
  t.ok(W3C.test(zero) && !zero.includes('0'.repeat(32)), zero)
  await fc.assert(fc.asyncProperty(
    fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-f-]{0,60}$/), fc.constant(`00-${TRACE_ID}-${AGENT_SPAN}-01, 00-${TRACE_ID}-${AGENT_SPAN}-00`)),
    fc.string({ maxLength: 40 }),
    async (tp, ts) => {
      // Only header-legal values (no control characters) can be sent at all.
      const clean = (v: string) => v.replace(/[^\x20-\x7e]/g, '')
      const out = await send({ traceparent: clean(tp), tracestate: clean(ts) })
      return W3C.test(out)
    },
  ), { numRuns: 60 })
})

t.test('telemetry off (the default): the agent\'s trace headers pass unchanged, no trace fields in records', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}${tools}`)
  t.teardown(() => gate.close())
  const before = up.received.length
  const tp = `00-${TRACE_ID}-${AGENT_SPAN}-01`
  t.equal((await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/r/x`, { headers: { traceparent: tp } })).status, 200)
  t.equal(up.received[before]!.headers['traceparent'], tp)
  t.equal(gate.records[0]!['trace_id'], undefined)
})
