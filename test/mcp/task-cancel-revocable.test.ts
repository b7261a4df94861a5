// The MCP tasks/cancel toolgate sends when a toolgate task ends carries a credential that is
// still live at the issuer when the server receives it, and that credential is revoked (RFC 7009)
// right after. Real OAuth2 issuer (oidc-provider, test/credential/idp.ts: opaque, revocable,
// introspectable tokens): the MCP upstream introspects the bearer token of every request it
// receives. The upstream is a scripted node:http server (no MCP SDK server available here runs
// tools as tasks; see test/mcp/task-cancel.test.ts).

import t from 'tap'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startIdp, OPAQUE_RESOURCE } from '../credential/idp.ts'
import { startTestToolgate, testConfig, testListeners } from '../helpers/toolgate.ts'
import { createCredentialServices } from '../../proxy/src/credential/wiring.ts'
import { Metrics } from '../../proxy/src/record/metrics.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import { memorySink } from '../../proxy/src/record/records.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

const idp = await startIdp()
t.teardown(() => idp.close())

interface Seen { method: string; token: string; activeOnArrival: boolean }
const seen: Seen[] = []
const upstream = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
    void (async () => {
      const msg = JSON.parse(body) as { id: string | number; method: string; params?: { taskId?: string } }
      const token = String(req.headers['authorization'] ?? '').replace(/^Bearer /, '')
      const active = (await idp.introspect(token, 'cc-basic', idp.secrets.basic))['active'] === true
      seen.push({ method: msg.method, token, activeOnArrival: active })
      const result = msg.method === 'tools/call'
        ? { task: { taskId: 'long-job-1', status: 'working', createdAt: '2026-12-02T00:00:00Z', ttl: 60000 } }
        : { taskId: msg.params?.taskId, status: 'cancelled' }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }))
    })()
  })
})
await listenOnLoopback(upstream, t)

const dir = mkdtempSync(join(tmpdir(), 'toolgate-mcp-cancel-idp-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'cc.secret'), idp.secrets.basic, { mode: 0o600 })
const yaml = `version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tasks:
  agent_declared: true
credentials:
  idp:
    type: oauth2_client_credentials
    token_url: ${idp.tokenUrl}
    revocation_url: ${idp.revocationUrl}
    client_id: cc-basic
    client_secret_file: ${join(dir, 'cc.secret')}
tools:
  - name: jobs-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${(upstream.address() as AddressInfo).port} }
    credential: { provider: idp, resource: "${OPAQUE_RESOURCE}", scopes: [read] }
    mcp:
      allow_tools: ["get_*"]
      tool_access: { "get_*": read }
`
const sink = memorySink()
const config = testConfig(yaml, dir)
const metrics = new Metrics({ processMetrics: false })
const services = await createCredentialServices(config, { registry: metrics.registry, logger: createLogger({ level: 'error' }), records: sink })
const gate = await startTestToolgate(yaml, { metrics, records: sink, services: { tasks: services.tasks, credentials: services.credentials, approvals: services.approvals } })
t.teardown(async () => { await gate.close(); await services.close() })

t.test('the cancel arrives with a live credential, which is revoked after it', async (t) => {
  const created = services.tasks.create({ intent: 'long job', tools: ['jobs-mcp'], ttl_s: 600 })
  if (!created.ok) throw new Error(created.error.reason)
  const task = created.task.id
  const r = await request(`${gate.proxyUrl}/t/jobs-mcp/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'toolgate-task': task },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_report', arguments: {}, task: { ttl: 60000 } } }),
  })
  t.match(await r.body.json(), { result: { task: { taskId: 'long-job-1' } } })

  t.ok(services.tasks.end(task, 'deleted'))
  await services.credentials.revokeTask(task)
  const cancel = seen.find((s) => s.method === 'tasks/cancel')
  t.ok(cancel, 'tasks/cancel reached the server')
  t.equal(cancel?.token, seen[0]!.token, 'with the credential the task used')
  t.equal(cancel?.activeOnArrival, true, 'still active at the issuer when the server received the cancel')
  const after = await idp.introspect(cancel!.token, 'cc-basic', idp.secrets.basic)
  t.equal(after['active'], false, 'revoked at the issuer afterwards')
  t.match(sink.records.find((x) => x.type === 'mcp_task_cancel'), { task, outcome: 'cancelled', credential: { provider: 'idp' } })
  t.match(sink.records.find((x) => x.type === 'credential_revoked' && x.task === task), { result: 'revoked' })
  t.notOk(JSON.stringify(sink.records).includes(cancel!.token), 'no record carries the token')
})
