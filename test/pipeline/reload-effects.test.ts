// Hot reload, end to end, for the fields test/pipeline/reload.test.ts does not observe through
// the running process: approvals.*, rate_limits, hardening, and the timeouts whose effect needs
// something loopback does not give by default (connect_ms: a port that never answers;
// policy_eval_ms: a real WASM policy that is slow; shutdown_ms: the close of the sidecar itself).
// Each probe changes the field in the config, reloads the running sidecar, and observes the new
// value's effect through its real listeners, upstreams and control API.
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { startTestToolgate, testConfig, testListeners, type TestToolgate } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { startUnansweredPort, type UnansweredPort } from '../helpers/unanswered.ts'
import { toolPath } from '../helpers/tools.ts'
import { RELOADABLE } from '../../proxy/src/config/reload.ts'
import { startIssuer, type TestIssuer } from '../trust/issuer.ts'

const dir = mkdtempSync(join(tmpdir(), 'toolgate-reload-effects-'))
const SECRET = `reflected-secret-${Math.random().toString(36).slice(2)}`
writeFileSync(join(dir, 'api.secret'), SECRET, { mode: 0o600 })
const APPROVALS_AUD = 'toolgate-approvals.reload'

let up: Upstream
let hole: UnansweredPort
let corp: TestIssuer
let webhook: { url: string; posts: IncomingMessage[]; close(): void }
let gate: TestToolgate

interface Overrides {
  rateLimit?: number | null
  hardening?: string
  approvals?: string
  connectMs?: number
}

function yaml(o: Overrides = {}): string {
  return `version: 1
${testListeners}timeouts: { connect_ms: ${o.connectMs ?? 5000} }
# Delegate calls need no task here, so the default policy holds them for approval.
policy: { data: { task_required_for: [] } }
credentials:
  api: { type: static, secret_file: ${join(dir, 'api.secret')} }
${o.rateLimit ? `rate_limits:
  limits:
    - { name: echo-calls, tool: echo, requests: ${o.rateLimit}, period_s: 3600 }
` : ''}${o.hardening ? `hardening: ${o.hardening}\n` : ''}approvals: { timeout_ms: 300${o.approvals ? `, ${o.approvals}` : ''} }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    credential: { provider: api }
    routes: [{ methods: [GET, POST], path: "/**" }]
  - name: held
    match: { scheme: http, host: 127.0.0.4, port: ${up.port} }
    allow_addresses: ["127.0.0.4/32"]
    routes: [{ methods: [GET], path: "/**", access: delegate }]
  - name: blackhole
    match: { scheme: http, host: 127.0.0.1, port: ${hole.port} }
    routes: [{ methods: [GET], path: "/**" }]
`
}

const apply = (o: Overrides = {}): Promise<void> => gate.tg.applyConfig(testConfig(yaml(o), dir))
const get = (host: string, path: string, headers: Record<string, string> = {}) => viaProxy(gate.proxyUrl, 'GET', `http://${host}:${up.port}${path}`, { headers })
const nowS = (): number => Math.floor(Date.now() / 1000)
const approverToken = (aud: string) => corp.sign({ sub: 'alice@corp', aud, iat: nowS(), exp: nowS() + 60 })
const listApprovals = async (aud = APPROVALS_AUD): Promise<number> => (await fetch(`${gate.controlUrl}/v1/approvals`, { headers: { authorization: `Bearer ${await approverToken(aud)}` } })).status
const approversYaml = (audience = APPROVALS_AUD) => `audience: ${audience}, approvers: [{ name: corp, issuer: "${corp.issuer}", jwks_url: "${corp.jwksUrl}" }]`

t.before(async () => {
  up = await startUpstream()
  hole = await startUnansweredPort()
  corp = await startIssuer('corp')
  const posts: IncomingMessage[] = []
  const server = createServer((req, res) => { posts.push(req); req.resume(); res.end() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  webhook = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, posts, close: () => { server.closeAllConnections(); server.close() } }
  gate = await startTestToolgate(yaml(), { interceptor: null })
})
t.teardown(async () => {
  await gate?.close()
  await Promise.all([up?.close(), hole?.close(), corp?.close()])
  webhook?.close()
})

interface Probe {
  field: string
  /** Functions where the value needs what t.before starts (the issuer, the webhook). */
  before: Overrides | (() => Overrides)
  after: Overrides | (() => Overrides)
  observe(): Promise<unknown>
  expect: [unknown, unknown]
}

const probes: Probe[] = [
  {
    field: 'rate_limits', before: { rateLimit: 1 }, after: { rateLimit: 100 },
    observe: async () => [(await get('127.0.0.1', '/r1')).status, (await get('127.0.0.1', '/r2')).status],
    expect: [[200, 429], [200, 200]],
  },
  {
    // A different definition (2 per hour): a re-added identical limit would keep its old bucket.
    field: 'rate_limits (added to a config without limits)', before: {}, after: { rateLimit: 2 },
    observe: async () => [(await get('127.0.0.1', '/r3')).status, (await get('127.0.0.1', '/r4')).status, (await get('127.0.0.1', '/r5')).status],
    expect: [[200, 200, 200], [200, 200, 429]],
  },
  {
    // The echo upstream reflects the injected Authorization header in its body.
    field: 'hardening.reflection.action', before: { hardening: '{ reflection: { action: redact } }' }, after: { hardening: '{ reflection: { action: block } }' },
    observe: async () => {
      const res = await get('127.0.0.1', '/reflect').then((r) => ({ status: r.status, leaked: r.body.includes(SECRET) }), () => ({ status: 'cut', leaked: false }))
      const rec = gate.records.filter((r) => r['type'] === 'decision' && r['path'] === '/reflect').at(-1)
      return { ...res, action: (rec?.['credential_reflected'] as { action?: string } | undefined)?.action }
    },
    expect: [{ status: 200, leaked: false, action: 'redact' }, { status: 'cut', leaked: false, action: 'block' }],
  },
  {
    field: 'hardening.override_hints.headers', before: {}, after: { hardening: '{ override_hints: { headers: [x-custom-override] } }' },
    observe: async () => {
      await get('127.0.0.1', '/oh', { 'x-http-method-override': 'DELETE', 'x-custom-override': 'DELETE' })
      const h = up.received.at(-1)!.headers
      return { standard: h['x-http-method-override'] ?? null, custom: h['x-custom-override'] ?? null }
    },
    expect: [{ standard: null, custom: 'DELETE' }, { standard: 'DELETE', custom: null }],
  },
  {
    field: 'hardening.override_hints.query_params', before: {}, after: { hardening: '{ override_hints: { query_params: [_verb] } }' },
    observe: async () => { await get('127.0.0.1', '/oq?_method=DELETE&_verb=PUT&a=1'); return up.received.at(-1)!.url },
    expect: ['/oq?_verb=PUT&a=1', '/oq?_method=DELETE&a=1'],
  },
  {
    field: 'approvals.webhook', before: {}, after: () => ({ approvals: `webhook: "${webhook.url}"` }),
    observe: async () => {
      const before = webhook.posts.length
      const res = await get('127.0.0.4', '/held')
      // The POST is sent when the call is held; the held call then times out (300 ms), long after.
      return { status: res.status, announced: webhook.posts.length - before }
    },
    expect: [{ status: 403, announced: 0 }, { status: 403, announced: 1 }],
  },
  { field: 'approvals.approvers', before: { approvals: `audience: ${APPROVALS_AUD}` }, after: () => ({ approvals: approversYaml() }), observe: () => listApprovals(), expect: [401, 200] },
  { field: 'approvals.audience', before: () => ({ approvals: approversYaml('another.audience') }), after: () => ({ approvals: approversYaml() }), observe: () => listApprovals(), expect: [401, 200] },
  {
    field: 'timeouts.connect_ms', before: { connectMs: 300 }, after: { connectMs: 60000 },
    observe: async () => {
      const abort = AbortSignal.timeout(3000)
      const started = Date.now()
      return viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${hole.port}/c`, { signal: abort }).then(
        (r) => ({ status: r.status, within: Date.now() - started < 2500 }),
        () => 'still connecting after 3 s',
      )
    },
    expect: [{ status: 504, within: true }, 'still connecting after 3 s'],
  },
]

for (const p of probes) {
  t.test(`reload applies ${p.field}, observed on the running sidecar`, async (t) => {
    const fill = (o: Overrides | (() => Overrides)): Overrides => (typeof o === 'function' ? o() : o)
    await apply(fill(p.before))
    t.same(await p.observe(), p.expect[0], 'with the first value')
    await apply(fill(p.after))
    t.same(await p.observe(), p.expect[1], 'after the reload')
    await apply()
  })
}

t.test('reload applies timeouts.policy_eval_ms to a real (slow) WASM policy', async (t) => {
  // A real bundle built with the OPA CLI whose evaluation builds a 100 000-element array: tens of
  // milliseconds of real WASM work, far over 5 ms and far under 5 s.
  const src = join(dir, 'slow-policy')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'policy.rego'), `package fixture

import rego.v1

work := count([x | some x in numbers.range(1, data.toolgate_config.work)])

decision := {"allow": work > 0, "reasons": []}
`)
  const bundle = join(dir, 'slow.tar.gz')
  const built = spawnSync(toolPath('opa'), ['build', '-b', '.', '-t', 'wasm', '-e', 'fixture/decision', '-o', bundle], { cwd: src, encoding: 'utf8' })
  t.equal(built.status, 0, built.stderr)
  const cfg = (ms: number) => `version: 1
${testListeners}timeouts: { policy_eval_ms: ${ms} }
policy: { bundle: ${bundle}, entrypoint: fixture/decision, data: { work: 100000 } }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes: [{ methods: [GET], path: "/**" }]
`
  const slow = await startTestToolgate(cfg(5), { interceptor: null })
  t.teardown(() => slow.close())
  const call = () => viaProxy(slow.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/pe`)
  t.equal((await call()).status, 403, 'over a 5 ms budget: denied')
  t.match(slow.records.at(-1), { decision: 'deny', stage: 'policy', reasons: [/over timeouts\.policy_eval_ms \(5\)/] })
  await slow.tg.applyConfig(testConfig(cfg(5000), dir))
  t.equal((await call()).status, 200, 'after raising it to 5000 ms: allowed')
  await slow.tg.applyConfig(testConfig(cfg(5), dir))
  t.equal((await call()).status, 403, 'and lowered again: denied')
})

t.test('reload applies timeouts.shutdown_ms: close() drains in-flight calls for the reloaded bound', async (t) => {
  const cfg = (ms: number) => `version: 1
${testListeners}timeouts: { shutdown_ms: ${ms} }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes: [{ methods: [GET], path: "/**" }]
`
  /** Starts a sidecar with `from`, reloads it to `to`, closes it with a call in flight that the upstream answers after `slowMs`. */
  const closeWithCallInFlight = async (from: number, to: number, slowMs: number) => {
    const sidecar = await startTestToolgate(cfg(from), { interceptor: null })
    await sidecar.tg.applyConfig(testConfig(cfg(to), dir))
    const arrived = once(up.server, 'request')
    const inFlight = viaProxy(sidecar.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/slow?ms=${slowMs}`).then((r) => r.status, () => 'cut')
    await arrived // the call is at the upstream: in flight
    const started = Date.now()
    await sidecar.tg.close() // no argument: the bound is the config's shutdown_ms
    return { closeMs: Date.now() - started, call: await inFlight }
  }
  const lowered = await closeWithCallInFlight(60000, 200, 4000)
  t.ok(lowered.closeMs < 2500, `reloaded to 200 ms: closed in ${lowered.closeMs} ms without waiting for the 4 s call`)
  t.equal(lowered.call, 'cut', 'the call still in flight after the bound was cut')
  const raised = await closeWithCallInFlight(200, 60000, 1500)
  t.ok(raised.closeMs >= 1000, `reloaded to 60 s: close waited ${raised.closeMs} ms for the call`)
  t.equal(raised.call, 200, 'the in-flight call finished')
})

t.test('every field probed here is in the reloadable table', async (t) => {
  // test/pipeline/reload.test.ts names this file for these fields; keep the two in step.
  const covered = (field: string) => Object.keys(RELOADABLE).some((k) => field === k || field.startsWith(`${k}.`) || field.startsWith(`${k} `))
  for (const f of [...probes.map((p) => p.field), 'timeouts.policy_eval_ms', 'timeouts.shutdown_ms']) t.ok(covered(f), `${f} is reloadable`)
})
