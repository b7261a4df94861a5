// The forward proxy end to end: real upstream, real toolgate (real policy engine on the embedded
// default bundle), real clients (curl, undici ProxyAgent, Python requests and urllib).
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ProxyAgent, fetch as undiciFetch, request } from 'undici'
import { viaProxy } from '../helpers/proxy-client.ts'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { loopbackTool, startTestToolgate, testListeners, type TestToolgate } from '../helpers/toolgate.ts'

const run = promisify(execFile)

let up: Upstream
let gate: TestToolgate

t.before(async () => {
  up = await startUpstream()
  gate = await startTestToolgate(`version: 1
${testListeners}
limits: { max_request_body_bytes: 1024, max_response_body_bytes: 100000 }
timeouts: { response_headers_ms: 300 }
tools:
${loopbackTool('echo', up.port, `      - { methods: [GET, HEAD], path: "/**" }
      # POST marked read so the default policy allows it without a task (this file tests the proxy, not the policy)
      - { methods: [POST], path: "/upload", access: read }
    deny:
      - { path: "/admin/**", reason: "admin endpoints are off limits" }`)}
  - name: named
    match: { scheme: http, host: localhost, port: ${up.port} }
    routes:
      - { path: "/**" }
`)
})
t.teardown(async () => {
  await gate.close()
  await up.close()
})

const lastRecord = () => gate.records.at(-1) as Record<string, any>

t.test('curl through the proxy: allowed call is forwarded in canonical form', async (t) => {
  const before = up.received.length
  const { stdout } = await run('curl', ['-sS', '-x', gate.proxyUrl, '-H', 'toolgate-task: ', '-H', 'Proxy-Authorization: Basic c2VjcmV0', '-H', 'Connection: x-drop-me', '-H', 'X-Drop-Me: 1', `http://127.0.0.1:${up.port}/a/./b/../c?q=1`])
  const echoed = JSON.parse(stdout)
  t.equal(up.received.length, before + 1)
  t.equal(echoed.url, '/a/c?q=1', 'dot segments resolved before forwarding')
  t.equal(echoed.headers.host, `127.0.0.1:${up.port}`)
  t.notOk(echoed.headers['proxy-authorization'], 'proxy credentials never reach the tool')
  t.notOk(echoed.headers['x-drop-me'], 'headers named in Connection are hop-by-hop')
  t.notOk(echoed.headers['proxy-connection'])
  const rec = lastRecord()
  t.equal(rec.decision, 'allow')
  t.equal(rec.tool, 'echo')
  t.equal(rec.path, '/a/c')
  t.equal(rec.query, 'q=_', 'query values are redacted in records')
  t.equal(rec.upstream_status, 200)
  t.type(rec.policy_revision, 'string')
})

t.test('denied calls get 403 with a JSON reason and a decision id that matches the record', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', 'http://example.invalid/x')
  t.equal(res.status, 403)
  const body = (res.json() as { error: Record<string, string> }).error
  t.same([body.code, body.type], ['denied', 'permission_error'])
  t.match(body.message, /^toolgate: no tool in the allowlist matches http:\/\/example\.invalid:80.* \(decision [0-9a-f-]{36}\)$/)
  t.equal(res.headers['x-toolgate-decision-id'], body.decision_id, 'the decision id is in a header too')
  t.match(res.headers['proxy-status'], /^toolgate; error=http_request_denied; details="no tool in the allowlist matches/)
  const rec = gate.records.find((r) => r['id'] === body.decision_id) as Record<string, any>
  t.ok(rec, 'record with the same id')
  t.equal(rec.decision, 'deny')
  t.equal(rec.stage, 'allowlist')

  const admin = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/admin/users`)
  t.equal(admin.status, 403)
  t.match(admin.json().error.message, /admin endpoints are off limits/, 'deny rule wins over the /** route')

  const del = await viaProxy(gate.proxyUrl, 'DELETE', `http://127.0.0.1:${up.port}/thing`)
  t.equal(del.status, 403)
  t.match(del.json().error.message, /no route of tool echo allows DELETE \/thing/)
})

t.test('route prefix /t/<tool>/ forwards to the tool base URL', async (t) => {
  const res = await request(`${gate.proxyUrl}/t/echo/v1/items?id=7`)
  t.equal(res.statusCode, 200)
  const echoed = (await res.body.json()) as any
  t.equal(echoed.url, '/v1/items?id=7')
  t.equal(echoed.headers.host, `127.0.0.1:${up.port}`)
  t.equal(lastRecord().via, 'route')
  const unknown = await request(`${gate.proxyUrl}/t/nope/x`)
  t.equal(unknown.statusCode, 404)
  await unknown.body.dump()
})

t.test('undici ProxyAgent (Node clients)', async (t) => {
  const agent = new ProxyAgent(gate.proxyUrl)
  const ok = await undiciFetch(`http://127.0.0.1:${up.port}/node`, { dispatcher: agent })
  t.equal(ok.status, 200)
  t.equal(((await ok.json()) as any).url, '/node')
  const denied = await undiciFetch('http://example.invalid/', { dispatcher: agent })
  t.equal(denied.status, 403)
  await agent.close()
})

t.test('Python requests and urllib honour HTTP_PROXY and are decided', async (t) => {
  const script = `
import json, os, sys, urllib.request, requests
url = sys.argv[1]
r = requests.get(url, timeout=5)
u = urllib.request.urlopen(url + '?via=urllib', timeout=5)
try:
    requests.get('http://example.invalid/', timeout=5).raise_for_status()
    denied = 'no'
except requests.HTTPError as e:
    denied = str(e.response.status_code)
print(json.dumps({'requests': r.status_code, 'urllib': u.status, 'denied': denied, 'path': r.json()['url']}))
`
  const { stdout } = await run('python3', ['-c', script, `http://127.0.0.1:${up.port}/py`], { env: { ...process.env, HTTP_PROXY: gate.proxyUrl, http_proxy: gate.proxyUrl, NO_PROXY: '', no_proxy: '' } })
  const out = JSON.parse(stdout)
  t.same(out, { requests: 200, urllib: 200, denied: '403', path: '/py' })
})

t.test('redirects are passed back, never followed', async (t) => {
  const before = up.received.length
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/redirect`)
  t.equal(res.status, 302)
  t.equal(res.headers.location, '/echo')
  t.equal(up.received.length, before + 1, 'only the original request reached the upstream')
})

t.test('hop-by-hop response headers are removed', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/hop`)
  t.equal(res.status, 200)
  t.notOk(res.headers['x-secret-hop'], 'header named in upstream Connection is dropped')
  t.notOk(res.headers['proxy-authenticate'])
  t.equal(res.body, 'hop')
})

t.test('upstream failures: timeout 504, refused 502, reset 502, each with a reason', async (t) => {
  const slow = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/slow?ms=2000`)
  t.equal(slow.status, 504)
  t.match(slow.json().error, { code: 'upstream_headers_timeout', type: 'timeout_error', message: /sent no response headers within/ })
  const reset = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/reset`)
  t.equal(reset.status, 502)
  t.match(lastRecord().failure.kind, /^upstream_(reset|closed)$/)
})

t.test('request body limit: declared too large → 413 before forwarding; streamed too large → 413', async (t) => {
  const before = up.received.length
  const big = await viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${up.port}/upload`, { headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(2048) })
  t.equal(big.status, 413)
  t.equal(up.received.length, before, 'nothing forwarded')
  const small = await viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${up.port}/upload`, { headers: { 'content-type': 'text/plain' }, body: 'hello' })
  t.equal(small.status, 200)
  t.equal(small.json().body, 'hello')
})

t.test('response body limit: within it streams whole, over it the connection is cut', async (t) => {
  const ok = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/big?bytes=90000`)
  t.equal(ok.status, 200)
  t.equal(ok.body.length, 90000)
  const cut = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/big?bytes=400000`).then(
    (r) => ({ complete: r.body.length === 400000 }),
    () => ({ complete: false }),
  )
  t.equal(cut.complete, false, 'the agent never gets more than the limit as a complete response')
  const rec = await gate.recorded((r) => r['path'] === '/big' && (r['failure'] as { kind?: string } | null)?.kind !== undefined) as Record<string, any>
  t.equal(rec.failure?.kind, 'response_too_large')
})

t.test('a hostname that resolves to loopback is refused unless the tool names the address', async (t) => {
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://localhost:${up.port}/x`)
  t.equal(res.status, 403)
  t.match(res.json().error, { code: 'destination_denied', message: /loopback/ })
  const rec = lastRecord()
  t.equal(rec.stage, 'destination')
  t.equal(rec.decision, 'deny')
})

t.test('metrics count decisions by tool', async (t) => {
  const res = await request(`${gate.adminUrl}/metrics`)
  t.equal(res.statusCode, 200)
  const text = await res.body.text()
  t.match(text, /toolgate_requests_total\{tool="echo",decision="allow",stage=""\} \d+/)
  t.match(text, /toolgate_requests_total\{tool="none",decision="deny",stage="allowlist"\} \d+/)
  t.match(text, /toolgate_decision_duration_seconds_bucket/)
  t.match(text, /toolgate_upstream_duration_seconds_bucket\{le="0.001",tool="echo",outcome="ok"\}/)
  t.match(text, /toolgate_open_connections\{listener="proxy"\}/)
  const ready = await request(`${gate.adminUrl}/readyz`)
  t.equal(ready.statusCode, 200)
  t.same(await ready.body.json(), { ready: true, reasons: [], restart_required: [] })
})
