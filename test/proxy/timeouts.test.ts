// Per-tool upstream timeouts and the failure kinds they record, against real upstreams on
// loopback that are slow on purpose: headers late, a body that stalls, a body that drips past a
// total deadline, a port nobody listens on, a connection reset mid-body. Short per-tool timeouts
// (a few hundred ms) keep the test fast; a second tool on the global defaults proves the
// override is per tool. The answers carry the retry advice the docs promise.

import t from 'tap'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { startTestToolgate, testConfig, testListeners } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import type { ErrorBody } from '../../proxy/src/pipeline/error-body.ts'

/** A loopback upstream whose paths misbehave: /late?ms=N, /stall, /drip, /cut. */
async function slowUpstream(): Promise<{ port: number; server: Server; seen: string[] }> {
  const seen: string[] = []
  const server = createServer((req, res) => {
    req.resume()
    const u = new URL(req.url ?? '/', 'http://x')
    seen.push(`${req.method} ${u.pathname}`)
    if (u.pathname === '/late') {
      const timer = setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('late') }, Number(u.searchParams.get('ms')))
      res.on('close', () => clearTimeout(timer))
    } else if (u.pathname === '/stall') {
      // Headers and a first chunk, then silence: an SSE stream whose server hung.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: first\n\n')
    } else if (u.pathname === '/drip') {
      // Never silent for long, never done: only a total deadline ends it.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => res.write('data: tick\n\n'), 30)
      res.on('close', () => clearInterval(timer))
    } else if (u.pathname === '/cut') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' })
      res.write('partial')
      setImmediate(() => req.socket.destroy())
    } else {
      res.end('ok')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, server, seen }
}

const fast = await slowUpstream()
const patient = await slowUpstream()
t.teardown(() => { fast.server.closeAllConnections(); fast.server.close(); patient.server.closeAllConnections(); patient.server.close() })
// A port that was free a moment ago: nothing listens there.
const closed = createServer().listen(0, '127.0.0.1')
await once(closed, 'listening')
const closedPort = (closed.address() as AddressInfo).port
closed.close()

const gate = await startTestToolgate(`version: 1
${testListeners}tools:
  - name: fast
    match: { scheme: http, host: 127.0.0.1, port: ${fast.port} }
    routes: [{ methods: [GET, POST], path: "/**" }]
    timeouts: { response_headers_ms: 300, idle_ms: 300, total_ms: 1500 }
  - name: patient
    match: { scheme: http, host: 127.0.0.1, port: ${patient.port} }
    routes: [{ methods: [GET], path: "/**" }]
  - name: gone
    match: { scheme: http, host: 127.0.0.1, port: ${closedPort} }
    routes: [{ methods: [GET, POST], path: "/**" }]
policy:
  data: { task_required_for: [] }
`)
t.teardown(() => gate.close())
const record = (path: string): Record<string, any> => gate.records.filter((r) => r['path'] === path).at(-1) as Record<string, any>
/** Waits for the record of a call whose response was cut (it is written when the exchange ends). */
async function recordOf(path: string, count: number): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const recs = gate.records.filter((r) => r['path'] === path)
    if (recs.length >= count) return recs.at(-1) as Record<string, any>
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no record for ${path}`)
}

t.test('headers later than the tool allows: 504 upstream_headers_timeout; a GET may be retried', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/late?ms=1200`)
  t.equal(res.status, 504)
  t.match(res.json<ErrorBody>().error, { code: 'upstream_headers_timeout', type: 'timeout_error', message: /sent no response headers within 300 ms/ })
  t.match(res.headers['proxy-status'], /^toolgate; error=http_response_timeout; /)
  t.notOk(res.headers['x-should-retry'], 'GET is idempotent: no advice against retrying')
  t.match(record('/late'), { status: 504, failure: { kind: 'upstream_headers_timeout' } })
})

t.test('a POST that timed out after it was sent: x-should-retry: false (the upstream may have acted)', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${fast.port}/late?ms=1200`, { headers: { 'content-type': 'application/json' }, body: '{"charge":1}' })
  t.equal(res.status, 504)
  t.equal(res.headers['x-should-retry'], 'false')
  t.notOk(res.headers['retry-after'])
})

t.test('the same slow answer within the global defaults: another tool is not cut', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${patient.port}/late?ms=600`)
  t.equal(res.status, 200)
  t.equal(res.body, 'late')
})

t.test('a body silent past idle_ms: cut, recorded upstream_idle (not connect)', async (t) => {
  const before = gate.records.filter((r) => r['path'] === '/stall').length
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/stall`).then((r) => ({ complete: true, body: r.body }), () => ({ complete: false, body: '' }))
  t.equal(res.complete, false, 'the agent sees the stream end abnormally, not a clean end')
  const rec = await recordOf('/stall', before + 1)
  t.match(rec, { status: 200, upstream_status: 200, failure: { kind: 'upstream_idle', reason: /silent for 300 ms/ } })
})

t.test('a body that never stops past total_ms: cut, recorded upstream_total_timeout', async (t) => {
  const started = Date.now()
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/drip`).then(() => 'ended', () => 'cut')
  t.equal(res, 'cut')
  t.ok(Date.now() - started >= 1400, 'not before the deadline')
  const rec = await recordOf('/drip', 1)
  t.match(rec, { failure: { kind: 'upstream_total_timeout', reason: /total timeout of 1500 ms/ } })
})

t.test('a connection reset mid-body is upstream_reset or upstream_closed, never connect', async (t) => {
  await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/cut`).catch(() => null)
  const rec = await recordOf('/cut', 1)
  t.match(rec.failure.kind, /^upstream_(reset|closed)$/)
})

t.test('nothing listening: 502 upstream_refused with Retry-After (a retry at once is premature)', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${closedPort}/x`, { body: 'x' })
  t.equal(res.status, 502)
  t.match(res.json<ErrorBody>().error, { code: 'upstream_refused', type: 'upstream_error' })
  t.equal(res.headers['retry-after'], '5')
  t.notOk(res.headers['x-should-retry'], 'the request never reached the upstream: a retry is safe later')
  t.match(res.headers['proxy-status'], /error=connection_refused/)
})

t.test('a reload changes a tool\'s timeouts for the next call', async (t) => {
  const yaml = (ms: number) => `version: 1
${testListeners}tools:
  - name: fast
    match: { scheme: http, host: 127.0.0.1, port: ${fast.port} }
    routes: [{ methods: [GET], path: "/**" }]
    timeouts: { response_headers_ms: ${ms} }
`
  // undici checks these timers on a coarse (about 1 s) tick, so the margins are wide.
  const g = await startTestToolgate(yaml(300))
  t.teardown(() => g.close())
  t.equal((await viaProxy(g.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/late?ms=1500`)).status, 504)
  await g.tg.applyConfig(testConfig(yaml(5000)))
  t.equal((await viaProxy(g.proxyUrl, 'GET', `http://127.0.0.1:${fast.port}/late?ms=1500`)).status, 200)
})
