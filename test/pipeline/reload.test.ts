// A hot reload applies every reloadable field (config/reload.ts RELOADABLE) to the running
// sidecar. One real toolgate (its own record sink and services, as `toolgate run` builds them) is
// reloaded again and again; for each field a probe observes the field's effect through the real
// listeners, upstreams and admin API with one value, then with another. Restart-only fields are
// kept and listed in the reload log line and /readyz. The two tables of config/reload.ts together
// must cover every field of toolgate.schema.json.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { connect as netConnect, type Socket, type AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { testConfig } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { rawRequest } from '../helpers/raw.ts'
import { makeServerCert, makeTestCa, startHttpsUpstream, type HttpsUpstream } from '../tls/helpers/https-upstream.ts'
import { startToolgate, type Toolgate } from '../../proxy/src/server.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import { RELOADABLE, RESTART_ONLY } from '../../proxy/src/config/reload.ts'
import { repoRoot } from '../helpers/tools.ts'
import { grantClaims, startIssuer, type TestIssuer } from '../trust/issuer.ts'

const dir = mkdtempSync(join(tmpdir(), 'toolgate-reload-'))
let up: Upstream
let tlsUp: HttpsUpstream
let upstreamCaFile: string
let counted: { server: Server; port: number; connections: number }
let tg: Toolgate
let issuer: TestIssuer
const AUD = 'reload.test'
const SPIFFE = 'spiffe://cluster.local/ns/ns-a/sa/agent'
const logs: string[] = []
let recordsFile = join(dir, 'records-a.jsonl')
writeFileSync(join(dir, 'secret-a'), 'secret-A-1')
writeFileSync(join(dir, 'secret-b'), 'secret-B-2')

type Overrides = {
  mode?: string
  limits?: Record<string, number>
  timeouts?: Record<string, number>
  level?: string
  records?: string
  policyData?: string
  agentNamespace?: string
  upstreamCa?: boolean
  secret?: 'a' | 'b'
  tasks?: Record<string, unknown>
  approvals?: Record<string, number>
  extraTool?: boolean
  adminPort?: number
  issuers?: boolean
}

function yaml(o: Overrides = {}): string {
  const kv = (r: Record<string, unknown> | undefined) => Object.entries(r ?? {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')
  return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: ${o.adminPort ?? 0} }
  transparent_tls: { host: 127.0.0.1, port: 0 }
logging: { level: ${o.level ?? 'info'}, records: ${o.records ?? recordsFile} }
mode: ${o.mode ?? 'enforce'}
limits: { ${kv(o.limits)} }
timeouts: { ${kv(o.timeouts)} }
agent: { namespace: ${o.agentNamespace ?? 'ns-a'}, spiffe_id: "${SPIFFE}" }
policy:
  data: ${o.policyData ?? '{ task_required_for: [] }'}
tls:
  upstream_ca_files: [${o.upstreamCa ? upstreamCaFile : ''}]
credentials:
  api: { type: static, secret_file: ${join(dir, `secret-${o.secret ?? 'a'}`)} }
tasks:
  ${kv({ required: false, agent_declared: true, audience: AUD, ...o.tasks }).replaceAll(', ', '\n  ')}
  issuers: [${o.issuers ? `{ name: orch, issuer: "${issuer.issuer}", jwks_url: "${issuer.jwksUrl}", jwks_min_refresh_s: 0 }` : ''}]
approvals: { ${kv(o.approvals)} }
tools:
  - name: echo
    base_url: http://127.0.0.1:${up.port}
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    credential: { provider: api }
    routes:
      - { methods: [GET, POST], path: "/**" }
    deny: [{ path: "/admin/**", reason: "admin is off limits" }]
  - name: held
    match: { scheme: http, host: 127.0.0.4, port: ${up.port} }
    allow_addresses: ["127.0.0.4/32"]
    routes: [{ methods: [GET], path: "/**", access: delegate }]
  - name: counted
    match: { scheme: http, host: 127.0.0.1, port: ${counted.port} }
    routes: [{ methods: [GET], path: "/**" }]
  - name: mcp
    match: { scheme: http, host: localhost, port: ${up.port} }
    allow_addresses: ["127.0.0.0/8", "::1/128"]
    routes: [{ methods: [POST], path: "/mcp", access: read }]
    mcp: { path: /mcp }
  - name: secure
    match: { scheme: https, host: 127.0.0.1, port: ${tlsUp.port} }
    passthrough: false
    routes: [{ methods: [GET], path: "/**" }]
${o.extraTool ? `  - name: extra
    match: { scheme: http, host: 127.0.0.5, port: ${up.port} }
    allow_addresses: ["127.0.0.5/32"]
    routes: [{ methods: [GET], path: "/**" }]
` : ''}`
}

/** Index of the first log line written by the latest apply(). */
let logMark = 0

async function apply(o: Overrides = {}): Promise<void> {
  logMark = logs.length
  await tg.applyConfig(testConfig(yaml(o), dir))
}

function records(file = recordsFile): Array<Record<string, any>> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

async function lastRecord(file = recordsFile): Promise<Record<string, any>> {
  await new Promise((r) => setTimeout(r, 50)) // the file stream flushes asynchronously
  return records(file).at(-1)!
}

const proxyPort = (): number => Number(new URL(tg.proxyUrl).port)
const get = (path: string, headers: Record<string, string> = {}) => viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.1:${up.port}${path}`, { headers })

/** Whether a connection opened now is still open after `ms` (the server closed it otherwise). The
 *  windows are several times the short timeouts probed, so a loaded machine cannot blur them. */
async function openAfter(port: number, ms: number, first?: string): Promise<boolean> {
  const s: Socket = netConnect(port, '127.0.0.1')
  s.on('error', () => {})
  s.on('data', () => {})
  await once(s, 'connect')
  if (first !== undefined) s.write(first)
  let closed = false
  s.once('close', () => { closed = true })
  await new Promise((r) => setTimeout(r, ms))
  s.destroy()
  return !closed
}

/** An agent-declared task, through the control listener (tasks.agent_declared is on in these configs). */
async function createTask(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const res = await request(`${tg.controlUrl}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ intent: 'reload test', tools: ['echo', 'held'], ...body }) })
  return { status: res.statusCode, body: await res.body.json() }
}

/** A delegate call: the default policy asks for approval (approval_for_access); no approver answers. */
async function heldCall(): Promise<string> {
  const res = await viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.4:${up.port}/x`)
  return String(res.json().error?.message ?? res.status)
}

t.before(async () => {
  up = await startUpstream()
  const ca = makeTestCa(dir, 'upstream-ca')
  upstreamCaFile = ca.certFile
  issuer = await startIssuer('orch')
  tlsUp = await startHttpsUpstream(makeServerCert(dir, ca, 'up', ['127.0.0.1']))
  // An upstream that counts its connections and answers after a moment (so requests overlap).
  const server = createServer((_req, res) => { setTimeout(() => res.end('ok'), 150) })
  counted = { server, port: 0, connections: 0 }
  server.on('connection', () => { counted.connections++ })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  counted.port = (server.address() as AddressInfo).port
  tg = await startToolgate({ config: testConfig(yaml(), dir), logger: createLogger({ level: 'info', write: (l) => { logs.push(l) } }), interceptor: null })
})
t.teardown(async () => {
  await tg.close(300)
  await up.close()
  await tlsUp.close()
  await issuer.close()
  counted.server.closeAllConnections()
  counted.server.close()
})

interface Probe {
  field: string
  before: Overrides
  after: Overrides
  observe(): Promise<unknown>
  expect: [unknown, unknown]
  /** Set where the effect cannot be observed on loopback in a test: the value the snapshot the stages read. */
  snapshotOnly?: string
}

const probes: Probe[] = [
  { field: 'mode', before: { mode: 'enforce' }, after: { mode: 'report' }, observe: async () => (await get('/admin/x')).status, expect: [403, 200] },
  { field: 'limits.max_header_bytes', before: { limits: { max_header_bytes: 4096 } }, after: { limits: { max_header_bytes: 32768 } }, observe: async () => (await get('/h', { 'x-big': 'a'.repeat(8192) })).status, expect: [431, 200] },
  { field: 'limits.max_request_body_bytes', before: { limits: { max_request_body_bytes: 1000 } }, after: { limits: { max_request_body_bytes: 10000 } }, observe: async () => (await viaProxy(tg.proxyUrl, 'POST', `http://127.0.0.1:${up.port}/p`, { body: 'x'.repeat(2000) })).status, expect: [413, 200] },
  { field: 'limits.max_response_body_bytes', before: { limits: { max_response_body_bytes: 1000 } }, after: { limits: { max_response_body_bytes: 100000 } }, observe: async () => (await get('/big?bytes=5000').catch(() => ({ body: '' }))).body.length === 5000, expect: [false, true] },
  {
    field: 'limits.max_inspected_body_bytes', before: { limits: { max_inspected_body_bytes: 1024 } }, after: { limits: { max_inspected_body_bytes: 65536 } },
    observe: async () => (await viaProxy(tg.proxyUrl, 'POST', `http://localhost:${up.port}/mcp`, { headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'p'.repeat(3000) } }) })).status === 413,
    expect: [true, false],
  },
  {
    field: 'limits.max_connections', before: { limits: { max_connections: 1 } }, after: { limits: { max_connections: 100 } },
    observe: async () => {
      const hold = netConnect(proxyPort(), '127.0.0.1')
      hold.on('error', () => {})
      await once(hold, 'connect')
      await new Promise((r) => setTimeout(r, 50))
      const r = await rawRequest(proxyPort(), `GET http://127.0.0.1:${up.port}/c HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nConnection: close\r\n\r\n`, 1000).catch(() => ({ status: 0 }))
      hold.destroy()
      await new Promise((r) => setTimeout(r, 50))
      return r.status
    },
    expect: [0, 200],
  },
  {
    field: 'limits.max_upstream_connections_per_origin', before: { limits: { max_upstream_connections_per_origin: 1 } }, after: { limits: { max_upstream_connections_per_origin: 8 } },
    observe: async () => {
      const start = counted.connections
      await Promise.all([1, 2, 3].map(() => viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.1:${counted.port}/x`)))
      return counted.connections - start
    },
    expect: [1, 3],
  },
  { field: 'timeouts.connect_ms', before: { timeouts: { connect_ms: 1234 } }, after: { timeouts: { connect_ms: 4321 } }, observe: async () => tg.runtime().pools.connectTimeoutMs, expect: [1234, 4321], snapshotOnly: 'its effect (an upstream that never answers the connect) is in test/pipeline/reload-effects.test.ts' },
  // undici checks header timeouts on a coarse timer (about a second), hence the long slow answer.
  { field: 'timeouts.response_headers_ms', before: { timeouts: { response_headers_ms: 200 } }, after: { timeouts: { response_headers_ms: 10000 } }, observe: async () => (await get('/slow?ms=2500')).status, expect: [504, 200] },
  { field: 'timeouts.total_ms', before: { timeouts: { total_ms: 300 } }, after: { timeouts: { total_ms: 0 } }, observe: async () => (await get('/slow?ms=1500')).status, expect: [504, 200] },
  { field: 'timeouts.idle_ms', before: { timeouts: { idle_ms: 150 } }, after: { timeouts: { idle_ms: 60000 } }, observe: () => openAfter(proxyPort(), 1500), expect: [false, true] },
  { field: 'timeouts.client_headers_ms', before: { timeouts: { client_headers_ms: 150 } }, after: { timeouts: { client_headers_ms: 60000 } }, observe: () => openAfter(Number(new URL(tg.transparent.tls!).port), 1500), expect: [false, true] },
  // Node adds keepAliveTimeoutBuffer (1 s) to the keep-alive timeout.
  {
    field: 'timeouts.keep_alive_ms', before: { timeouts: { keep_alive_ms: 100 } }, after: { timeouts: { keep_alive_ms: 30000 } },
    observe: () => openAfter(proxyPort(), 3000, `GET http://127.0.0.1:${up.port}/k HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\n`), expect: [false, true] },
  { field: 'timeouts.policy_eval_ms', before: { timeouts: { policy_eval_ms: 11 } }, after: { timeouts: { policy_eval_ms: 22 } }, observe: async () => tg.runtime().config.timeouts.policy_eval_ms, expect: [11, 22], snapshotOnly: 'its effect on a slow real WASM policy is in test/pipeline/reload-effects.test.ts' },
  { field: 'timeouts.shutdown_ms', before: { timeouts: { shutdown_ms: 111 } }, after: { timeouts: { shutdown_ms: 222 } }, observe: async () => tg.runtime().config.timeouts.shutdown_ms, expect: [111, 222], snapshotOnly: 'read by close(), which ends the sidecar under test: test/pipeline/reload-effects.test.ts closes sidecars of its own' },
  { field: 'logging.level', before: { level: 'warn' }, after: { level: 'info' }, observe: async () => logs.slice(logMark).some((l) => l.includes('"config applied"')), expect: [false, true] },
  {
    field: 'logging.records', before: {}, after: { records: join(dir, 'records-b.jsonl') },
    observe: async () => { await get('/r'); await new Promise((r) => setTimeout(r, 50)); return records(join(dir, 'records-b.jsonl')).some((r) => r['path'] === '/r') },
    expect: [false, true],
  },
  { field: 'policy', before: { policyData: '{ task_required_for: [] }' }, after: { policyData: '{ task_required_for: [read] }' }, observe: async () => (await get('/p1')).status, expect: [200, 403] },
  { field: 'agent', before: { agentNamespace: 'ns-a' }, after: { agentNamespace: 'ns-b' }, observe: async () => { await get('/a1'); return (await lastRecord()).agent.namespace }, expect: ['ns-a', 'ns-b'] },
  { field: 'tls.upstream_ca_files', before: { upstreamCa: false }, after: { upstreamCa: true }, observe: async () => (await viaProxy(tg.proxyUrl, 'GET', `https://127.0.0.1:${tlsUp.port}/t`)).status, expect: [502, 200] },
  { field: 'credentials', before: { secret: 'a' }, after: { secret: 'b' }, observe: async () => { await get('/cred'); return up.received.at(-1)!.headers['authorization'] }, expect: ['Bearer secret-A-1', 'Bearer secret-B-2'] },
  { field: 'tasks.required', before: { tasks: { required: false } }, after: { tasks: { required: true } }, observe: async () => (await get('/t1')).status, expect: [200, 403] },
  {
    field: 'tasks.default_ttl_s', before: { tasks: { default_ttl_s: 60 } }, after: { tasks: { default_ttl_s: 120 } },
    observe: async () => { const r = await createTask({}); return (Date.parse(r.body.expires_at) - Date.parse(r.body.started_at)) / 1000 },
    expect: [60, 120],
  },
  { field: 'tasks.max_ttl_s', before: { tasks: { max_ttl_s: 300 } }, after: { tasks: { max_ttl_s: 1000 } }, observe: async () => (await createTask({ ttl_s: 500 })).status, expect: [400, 201] },
  { field: 'tasks.max_tasks', before: { tasks: { max_tasks: 1 } }, after: { tasks: { max_tasks: 1000 } }, observe: async () => (await createTask({})).status, expect: [429, 201] },
  {
    field: 'approvals.timeout_ms', before: { approvals: { timeout_ms: 150 } }, after: { approvals: { timeout_ms: 250 } },
    observe: async () => /timed out after (\d+) ms/.exec(await heldCall())?.[1],
    expect: ['150', '250'],
  },
  {
    field: 'approvals.max_pending', before: { approvals: { max_pending: 1, timeout_ms: 600 } }, after: { approvals: { max_pending: 5, timeout_ms: 600 } },
    observe: async () => {
      const first = heldCall()
      await new Promise((r) => setTimeout(r, 100))
      const second = await heldCall()
      await first
      return /too many calls awaiting approval/.test(second)
    },
    expect: [true, false],
  },
  { field: 'tasks.agent_declared', before: { tasks: { agent_declared: false } }, after: { tasks: { agent_declared: true } }, observe: async () => (await createTask({})).status, expect: [401, 201] },
  {
    field: 'tasks.issuers', before: { issuers: false }, after: { issuers: true },
    observe: async () => {
      const token = await issuer.sign(grantClaims({ sub: SPIFFE, aud: AUD, tools: ['echo'] }), { typ: 'txntoken+jwt' })
      await viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/g`, { headers: { 'txn-token': token } })
      const rec = await lastRecord()
      return rec.task === null ? /no task issuers are configured/.test(rec.reasons[0]) : 'task from the grant'
    },
    expect: [true, 'task from the grant'],
  },
  {
    field: 'tasks.audience', before: { issuers: true, tasks: { audience: 'another.domain' } }, after: { issuers: true },
    observe: async () => {
      const token = await issuer.sign(grantClaims({ sub: SPIFFE, aud: AUD, tools: ['echo'] }), { typ: 'txntoken+jwt' })
      await viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/g`, { headers: { 'txn-token': token } })
      return (await lastRecord()).task !== null
    },
    expect: [false, true],
  },
  { field: 'tools', before: { extraTool: false }, after: { extraTool: true }, observe: async () => (await viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.5:${up.port}/e`)).status, expect: [403, 502] },
]

/**
 * Reloadable fields without a probe here, and where they are observed instead.
 */
const NOT_PROBED: Record<string, string> = {
  'approvals.audience': 'probed end to end in test/pipeline/reload-effects.test.ts',
  'approvals.approvers': 'probed end to end in test/pipeline/reload-effects.test.ts',
  'approvals.webhook': 'probed end to end in test/pipeline/reload-effects.test.ts',
  'approvals.kubernetes': 'needs a TokenReview API server (trust tests)',
  rate_limits: 'probed end to end in test/pipeline/reload-effects.test.ts',
  hardening: 'probed end to end in test/pipeline/reload-effects.test.ts',
}

t.test('every reloadable field has a probe', async (t) => {
  for (const key of Object.keys(RELOADABLE)) {
    if (NOT_PROBED[key]) { t.comment(`${key} not probed here: ${NOT_PROBED[key]}`); continue }
    t.ok(probes.some((p) => p.field === key || p.field.startsWith(`${key}.`)), `${key} is probed`)
  }
  const leaves = ['max_header_bytes', 'max_request_body_bytes', 'max_response_body_bytes', 'max_inspected_body_bytes', 'max_connections', 'max_upstream_connections_per_origin']
  for (const l of leaves) t.ok(probes.some((p) => p.field === `limits.${l}`), `limits.${l} is probed`)
})

for (const p of probes) {
  t.test(`reload applies ${p.field}${p.snapshotOnly ? ' (snapshot only: ' + p.snapshotOnly + ')' : ''}`, async (t) => {
    await apply(p.before)
    t.same(await p.observe(), p.expect[0], 'with the first value')
    await apply(p.after)
    t.same(await p.observe(), p.expect[1], 'after the reload')
    await apply()
  })
}

t.test('restart-only fields are kept, and listed in the reload log line and /readyz', async (t) => {
  const adminPort = Number(new URL(tg.adminUrl).port)
  await apply({ adminPort: adminPort + 1 })
  const line = JSON.parse(logs.filter((l) => l.includes('"config applied"')).at(-1)!)
  t.same(line.restart_required, ['listeners'])
  const ready = await request(`${tg.adminUrl}/readyz`)
  t.same((await ready.body.json() as any).restart_required, ['listeners'], 'the admin listener still answers on its old port, and says a restart is pending')
  await apply()
  const again = await request(`${tg.adminUrl}/readyz`)
  t.same((await again.body.json() as any).restart_required, [], 'back to the start value: nothing pending')
})

t.test('the two tables cover every field of toolgate.schema.json, each once', async (t) => {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'config/toolgate.schema.json'), 'utf8'))
  const leaves: string[] = []
  const defs = schema.definitions ?? schema.$defs ?? {}
  const walk = (node: any, path: string): void => {
    if (node?.$ref) return walk(defs[node.$ref.split('/').pop()], path)
    if (node?.properties) for (const [k, v] of Object.entries(node.properties)) walk(v, path ? `${path}.${k}` : k)
    else leaves.push(path)
  }
  walk(schema, '')
  const covers = (table: Record<string, string>, leaf: string): boolean => Object.keys(table).some((k) => leaf === k || leaf.startsWith(`${k}.`))
  for (const leaf of leaves) {
    const n = Number(covers(RELOADABLE, leaf)) + Number(covers(RESTART_ONLY, leaf))
    t.equal(n, 1, `${leaf} is in exactly one table`)
  }
})

t.test('docs/config.md shows both tables', async (t) => {
  const doc = readFileSync(join(repoRoot, 'docs/config.md'), 'utf8')
  for (const key of [...Object.keys(RELOADABLE), ...Object.keys(RESTART_ONLY)]) {
    t.ok(doc.includes(`\`${key}\``) || doc.includes(`\`${key}.`), `${key} is in the docs table`)
  }
})
