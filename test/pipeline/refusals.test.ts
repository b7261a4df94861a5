// Every listener's refusals are records: for each way a request can be refused on each listener
// (forward proxy, /t/ prefix, CONNECT, intercepted TLS, transparent HTTP, transparent TLS, upgrade),
// the agent's connection gets exactly one decision record and one toolgate_requests_total
// increment, and an answer that carries an id names that record. Real toolgate, real sockets.
import t, { type Test } from 'tap'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { rawRequest } from '../helpers/raw.ts'
import { startInterceptingGate, type InterceptingGate } from '../tls/helpers/gate.ts'
import { testListenersWithTransparent } from '../helpers/toolgate.ts'

let up: Upstream
let gate: InterceptingGate
let ca: string

t.before(async () => {
  up = await startUpstream()
  gate = await startInterceptingGate((dir) => `version: 1
${testListenersWithTransparent}tls:
  ca: { publish_cert_to: ${join(dir, 'ca.pem')} }
tools:
  - name: echo
    base_url: http://127.0.0.1:${up.port}
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes: [{ methods: [GET], path: "/**" }]
  - name: secure
    match: { scheme: https, host: secure.example.test }
    routes: [{ methods: [GET], path: "/**" }]
`)
  ca = readFileSync(join(gate.dir, 'ca.pem'), 'utf8')
})
t.teardown(async () => { await gate.close(); await up.close() })

const proxyPort = (): number => Number(new URL(gate.proxyUrl).port)

async function parseCount(): Promise<number> {
  const m = (await gate.tg.metrics.registry.getSingleMetric('toolgate_requests_total')!.get()).values
  return m.reduce((a, v) => a + v.value, 0)
}

/** Runs `act` and checks it produced exactly one record (returned) and one metric increment. */
async function oneRecord(t: Test, name: string, act: () => Promise<unknown>): Promise<Record<string, any>> {
  const before = gate.records.length
  const metric = await parseCount()
  await act()
  // Records of a tunnel refused after the answer may land a tick later: wait for it (an event).
  await gate.recorded((_r, i) => i === before, 2000).catch(() => null)
  t.equal(gate.records.length, before + 1, `${name}: exactly one record`)
  t.equal(await parseCount(), metric + 1, `${name}: exactly one metric increment`)
  return gate.records.at(-1) as Record<string, any>
}

/** Opens a CONNECT tunnel to host:443 and TLS inside it, trusting toolgate's CA; sends `request`. */
async function intercepted(request: string): Promise<string> {
  const socket = netConnect(proxyPort(), '127.0.0.1')
  await once(socket, 'connect')
  socket.write('CONNECT secure.example.test:443 HTTP/1.1\r\nHost: secure.example.test:443\r\n\r\n')
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  const tls = tlsConnect({ socket, ca, servername: 'secure.example.test' })
  await once(tls, 'secureConnect')
  tls.write(request)
  const chunks: Buffer[] = []
  tls.on('data', (c: Buffer) => chunks.push(c))
  await Promise.race([once(tls, 'close'), new Promise((r) => setTimeout(r, 2000))])
  tls.destroy()
  return Buffer.concat(chunks).toString('latin1')
}

t.test('forward proxy', async (t) => {
  const rec1 = await oneRecord(t, 'malformed', () => rawRequest(proxyPort(), 'GET http://a/ HTTP/1.1\r\nHost: a\r\nbroken\r\n\r\n'))
  t.match(rec1, { via: 'forward', decision: 'deny', stage: 'parse' })
  const res = { status: 0, body: '' }
  const rec2 = await oneRecord(t, 'ambiguous (two Host headers)', async () => Object.assign(res, await rawRequest(proxyPort(), `GET http://127.0.0.1:${up.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nHost: evil.test\r\nConnection: close\r\n\r\n`)))
  t.match(rec2, { via: 'forward', stage: 'parse', status: 400 })
  t.equal(JSON.parse(res.body).error.decision_id, rec2.id)
  const rec3 = await oneRecord(t, 'no tool', () => rawRequest(proxyPort(), 'GET http://nothing.example.test/ HTTP/1.1\r\nHost: nothing.example.test\r\nConnection: close\r\n\r\n'))
  t.match(rec3, { via: 'forward', stage: 'allowlist', decision: 'deny' })
})

t.test('route prefix', async (t) => {
  const rec = await oneRecord(t, 'unknown tool', () => rawRequest(proxyPort(), 'GET /t/nope/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'))
  t.match(rec, { via: 'route', stage: 'parse', status: 404 })
  const rec2 = await oneRecord(t, 'method not on a route', () => rawRequest(proxyPort(), 'DELETE /t/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'))
  t.match(rec2, { via: 'route', stage: 'allowlist', tool: 'echo' })
})

t.test('upgrade offers', async (t) => {
  const rec = await oneRecord(t, 'upgrade offer with a body', () => rawRequest(proxyPort(), 'POST /t/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi'))
  t.match(rec, { stage: 'parse', status: 400, reasons: [/upgrade offers with a request body/] })
  const rec2 = await oneRecord(t, 'websocket on a route without upgrade', () => rawRequest(proxyPort(), 'GET /t/echo/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', 2000, true))
  t.match(rec2, { stage: 'route', reasons: [/upgrade is not allowed/] })
})

t.test('CONNECT', async (t) => {
  const rec = await oneRecord(t, 'target without a port', () => rawRequest(proxyPort(), 'CONNECT example.test HTTP/1.1\r\nHost: example.test\r\n\r\n', 2000, true))
  t.match(rec, { via: 'connect', stage: 'parse' })
  const rec2 = await oneRecord(t, 'no tool', () => rawRequest(proxyPort(), 'CONNECT other.example.test:443 HTTP/1.1\r\nHost: other.example.test:443\r\n\r\n', 2000, true))
  t.match(rec2, { via: 'connect', stage: 'allowlist', decision: 'deny' })
})

t.test('intercepted TLS', async (t) => {
  // The tunnel itself is one record (opened for inspection); each refused request inside is one more.
  const before = gate.records.length
  const answer = await intercepted('GET /x HTTP/1.1\r\nHost: other.example.test\r\nConnection: close\r\n\r\n')
  t.match(answer, /^HTTP\/1\.1 400/)
  t.equal(gate.records.length, before + 2, 'the tunnel and the refused request')
  t.match(gate.records.at(-1), { via: 'intercepted', stage: 'parse', reasons: [/disagrees with the tunnel/] })
  const before2 = gate.records.length
  const answer2 = await intercepted('GET /x HTTP/1.1\r\nHost: secure.example.test\r\nbroken\r\n\r\n')
  t.match(answer2, /^HTTP\/1\.1 400/)
  t.equal(gate.records.length, before2 + 2, 'the tunnel and the malformed request')
  t.match(gate.records.at(-1), { via: 'intercepted', stage: 'parse', reasons: [/malformed request/] })
})

t.test('transparent HTTP', async (t) => {
  const port = Number(gate.transparent.http!.port)
  t.match(await oneRecord(t, 'malformed', () => rawRequest(port, 'GET / HTTP/1.1\r\nbroken\r\n\r\n')), { via: 'transparent', stage: 'parse' })
  t.match(await oneRecord(t, 'Host with another port', () => rawRequest(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nConnection: close\r\n\r\n`)), { via: 'transparent', stage: 'parse', reasons: [/redirected from port 80/] })
  t.match(await oneRecord(t, 'CONNECT', () => rawRequest(port, 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n', 2000, true)), { via: 'transparent', stage: 'parse', status: 405 })
  t.match(await oneRecord(t, 'no Host', () => rawRequest(port, 'GET / HTTP/1.0\r\n\r\n', 2000, true)), { via: 'transparent', stage: 'parse' })
})

/** Resolves when the socket closes, whatever error ends it (events.once would reject on 'error'). */
function closed(s: Socket): Promise<void> {
  s.on('error', () => {})
  return new Promise((resolve) => s.once('close', () => resolve()))
}

t.test('transparent TLS', async (t) => {
  const port = Number(gate.transparent.tls!.port)
  const garbage = async (): Promise<void> => {
    const s: Socket = netConnect(port, '127.0.0.1')
    s.on('error', () => {})
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await once(s, 'close')
  }
  t.match(await oneRecord(t, 'not TLS', garbage), { via: 'transparent', stage: 'parse', reasons: [/not a readable TLS ClientHello/] })
  const noSni = async (): Promise<void> => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
    await closed(s)
  }
  t.match(await oneRecord(t, 'no SNI', noSni), { via: 'transparent', stage: 'parse', reasons: [/without SNI/] })
  const unknown = async (): Promise<void> => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'unknown.example.test', rejectUnauthorized: false })
    await closed(s)
  }
  t.match(await oneRecord(t, 'SNI of no tool', unknown), { via: 'transparent', stage: 'allowlist', decision: 'deny' })
})

t.test('report mode: a call no tool matched is forwarded under the default destination rules, never a crash', async (t) => {
  const { startTestToolgate, testListeners } = await import('../helpers/toolgate.ts')
  const { viaProxy } = await import('../helpers/proxy-client.ts')
  const g = await startTestToolgate(`version: 1
${testListeners}
mode: report
tools: []
`, { interceptor: null })
  t.teardown(() => g.close())
  const res = await viaProxy(g.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/x`)
  t.equal(res.status, 403, 'loopback is refused by the default destination rules')
  t.equal(g.records.length, 1)
  t.match(g.records[0], { decision: 'deny', stage: 'destination', tool: null })
})

t.test('a failure inside toolgate still leaves exactly one record (stage internal)', async (t) => {
  const { startTestToolgate, testListeners } = await import('../helpers/toolgate.ts')
  const { viaProxy } = await import('../helpers/proxy-client.ts')
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-crash-'))
  writeFileSync(join(dir, 'secret'), 'never-shown-7781')
  // A stand-in credential service whose header rendering throws: no real component fails on
  // demand in the middle of a call, and the point is what the chain does when one does.
  const g = await startTestToolgate(`version: 1
${testListeners}
credentials:
  api: { type: static, secret_file: ${join(dir, 'secret')} }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    credential: { provider: api }
    routes: [{ methods: [GET], path: "/**" }]
`, { interceptor: null, services: { tasks: null, approvals: null, credentials: { obtain: async () => ({ ok: true, credential: { provider: 'api', issuanceId: 'i', expiresAt: Date.now() + 60_000, token: 'never-shown-7781' } as never }), inject: () => { throw new Error('render failed') } } } })
  t.teardown(() => g.close())
  const res = await viaProxy(g.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/x`)
  t.equal(res.status, 500)
  t.equal(g.records.length, 1, 'one record')
  t.match(g.records[0], { decision: 'deny', stage: 'internal', status: 500 })
  t.equal(res.json().error.decision_id, g.records[0]!['id'])
  t.notMatch(JSON.stringify(g.records) + res.body, /never-shown-7781/, 'the secret appears nowhere')
})
