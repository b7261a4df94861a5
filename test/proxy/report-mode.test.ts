// Report mode: what enforcement would deny is recorded as would_deny, counted, and let through;
// parse refusals and destination checks stay enforced; a call that passes only because of
// report mode gets no credential.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { startTestToolgate, testListeners, type TestToolgate } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { rawRequest } from '../helpers/raw.ts'

const SECRET = 'report-mode-secret-value-91c3'
let up: Upstream
let gate: TestToolgate

t.before(async () => {
  up = await startUpstream()
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-report-'))
  writeFileSync(join(dir, 'secret'), SECRET)
  gate = await startTestToolgate(`version: 1
${testListeners}
mode: report
credentials:
  api: { type: static, secret_file: ${join(dir, 'secret')} }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    credential: { provider: api }
    routes:
      - { methods: [GET], path: "/read/**" }
    deny:
      - { path: "/admin/**", reason: "admin is off limits" }
  - name: enforced
    mode: enforce
    match: { scheme: http, host: localhost, port: ${up.port} }
    allow_addresses: ["127.0.0.0/8", "::1/128"]
    routes:
      - { methods: [GET], path: "/read/**" }
`)
})
t.teardown(async () => {
  await gate.close()
  await up.close()
})

t.test('a call enforcement would deny passes, recorded as would_deny with its reasons', async (t) => {
  const before = up.received.length
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/admin/users`)
  t.equal(res.status, 200, 'let through')
  t.equal(up.received.length, before + 1)
  t.notOk(up.received.at(-1)!.headers['authorization'], 'no credential for a call that only report mode let through')
  const rec = gate.records.at(-1) as Record<string, any>
  t.equal(rec.decision, 'would_deny')
  t.equal(rec.mode, 'report')
  t.equal(rec.stage, 'allowlist')
  t.same(rec.reasons, ['admin is off limits'])
  t.equal(rec.credential, null)

  const unknown = await viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${up.port}/read/x`)
  t.equal(unknown.status, 200)
  t.match((gate.records.at(-1) as any).reasons[0], /no route of tool echo allows POST/)
})

t.test('allowed calls in report mode are enforced as usual: credential injected', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/read/doc`)
  t.equal(res.status, 200)
  t.equal(up.received.at(-1)!.headers['authorization'], `Bearer ${SECRET}`)
  t.equal((gate.records.at(-1) as any).decision, 'allow')
  t.notMatch(JSON.stringify(gate.records), SECRET, 'the secret is in no record')
})

t.test('a tool in enforce mode overrides the global report mode', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://localhost:${up.port}/other`)
  t.equal(res.status, 403)
  const rec = gate.records.at(-1) as Record<string, any>
  t.equal(rec.decision, 'deny')
  t.equal(rec.mode, 'enforce')
})

t.test('report mode never relaxes parse refusals', async (t) => {
  const port = Number(new URL(gate.proxyUrl).port)
  const before = up.received.length
  const res = await rawRequest(port, `GET http://127.0.0.1:${up.port}/read/%2e%2e/admin HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\n`)
  t.equal(res.status, 400)
  t.equal(up.received.length, before)
})

t.test('would_deny is counted', async (t) => {
  const text = await (await request(`${gate.adminUrl}/metrics`)).body.text()
  t.match(text, /toolgate_requests_total\{tool="echo",decision="would_deny",stage="allowlist"\} 2/)
  t.match(text, /toolgate_requests_total\{tool="enforced",decision="deny",stage="policy"\} 1|toolgate_requests_total\{tool="enforced",decision="deny",stage="allowlist"\} 1/)
})
