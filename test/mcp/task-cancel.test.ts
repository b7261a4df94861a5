// When a toolgate task ends, toolgate sends tasks/cancel for each MCP task (tasks extension) it
// saw created under that task, to the server that owns it, with the tool's credential, BEFORE the
// task's credentials are revoked; a hanging server delays revocation only up to the cancel
// timeout; another toolgate task's MCP tasks are left alone.
//
// The upstream is a scripted node:http server, not an SDK server: none of the MCP SDKs available
// here runs tools as tasks (the Python SDK `mcp` 2.3.0 speaks 2026-07-28 but has no tasks
// extension on the server side; the TypeScript SDK servers in test/mcp/helpers do not either).
// Everything else is real: toolgate's listeners, policy engine, task registry, static credential
// provider and broker, and the records they write.

import t from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startTestToolgate, testConfig, testListeners } from '../helpers/toolgate.ts'
import { createCredentialServices } from '../../proxy/src/credential/wiring.ts'
import { Metrics } from '../../proxy/src/record/metrics.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import { memorySink } from '../../proxy/src/record/records.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

const SERVER_SECRET = 'mcp-task-secret-91fe'
const SESSION = 'session-abc-123'

interface Seen { method: string; taskId: string | null; headers: IncomingHttpHeaders; revokedBefore: number }
const seen: Seen[] = []
/** MCP task ids whose tasks/cancel the server never answers. */
const hang = new Set<string>()
/** MCP task ids whose tasks/cancel is answered on an SSE stream that stays open. */
const sseOpen = new Set<string>()
/** MCP task ids the server says have already finished. */
const finished = new Set<string>()
let nextTask = 0
const sink = memorySink()
const revokedCount = (): number => sink.records.filter((r) => r.type === 'credential_revoked').length

const upstream = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
    const msg = JSON.parse(body) as { id: string | number; method: string; params?: { taskId?: string } }
    seen.push({ method: msg.method, taskId: msg.params?.taskId ?? null, headers: req.headers, revokedBefore: revokedCount() })
    if (msg.method === 'tasks/cancel' && hang.has(msg.params?.taskId ?? '')) return // never answered
    if (msg.method === 'tasks/cancel' && sseOpen.has(msg.params?.taskId ?? '')) {
      // Answered on an SSE stream that then stays open.
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { taskId: msg.params?.taskId, status: 'cancelled' } })}\n\n`)
      return
    }
    if (msg.method === 'tasks/cancel' && finished.has(msg.params?.taskId ?? '')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32602, message: 'task already completed' } }))
      return
    }
    const result = msg.method === 'tools/call'
      ? { task: { taskId: `mcp-task-${++nextTask}`, status: 'working', createdAt: '2026-12-02T00:00:00Z', ttl: 60000 } }
      : { taskId: msg.params?.taskId, status: 'cancelled' }
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }))
  })
})
await listenOnLoopback(upstream, t)

const dir = mkdtempSync(join(tmpdir(), 'toolgate-mcp-cancel-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'mcp.secret'), SERVER_SECRET, { mode: 0o600 })
const yaml = `version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tasks:
  agent_declared: true
credentials:
  mcp-secret: { type: static, secret_file: ${join(dir, 'mcp.secret')} }
tools:
  - name: tasks-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${(upstream.address() as AddressInfo).port} }
    credential: { provider: mcp-secret }
    mcp:
      allow_tools: ["get_*"]
      tool_access: { "get_*": read }
`
const config = testConfig(yaml, dir)
const metrics = new Metrics({ processMetrics: false })
const services = await createCredentialServices(config, { registry: metrics.registry, logger: createLogger({ level: 'error' }), records: sink })
const gate = await startTestToolgate(yaml, { metrics, records: sink, services: { tasks: services.tasks, credentials: services.credentials, approvals: services.approvals } })
t.teardown(async () => { await gate.close(); await services.close() })

function openTask(): string {
  const r = services.tasks.create({ intent: 'long report', tools: ['tasks-mcp'], ttl_s: 600 })
  if (!r.ok) throw new Error(r.error.reason)
  return r.task.id
}

async function startMcpTask(taskId: string, id: number): Promise<string> {
  const r = await request(`${gate.proxyUrl}/t/tasks-mcp/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'toolgate-task': taskId, 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'get_report', arguments: {}, task: { ttl: 60000 } } }),
  })
  const json = await r.body.json() as { result?: { task?: { taskId: string } } }
  if (!json.result?.task) throw new Error(`no task created: ${JSON.stringify(json)}`)
  return json.result.task.taskId
}

async function waitFor(cond: () => boolean, ms = 8000): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const cancels = (mcpTask: string): Seen[] => seen.filter((s) => s.method === 'tasks/cancel' && s.taskId === mcpTask)
const revokedFor = (task: string): Record<string, unknown>[] => sink.records.filter((r) => r.type === 'credential_revoked' && r.task === task)
const cancelRecords = (task: string): Record<string, unknown>[] => sink.records.filter((r) => r.type === 'mcp_task_cancel' && r.task === task)

await t.test('task end: tasks/cancel reaches the server with the credential and session, before revocation; the other task is untouched', async (t) => {
  const a = openTask()
  const b = openTask()
  const mineA = await startMcpTask(a, 1)
  const mineB = await startMcpTask(b, 2)
  t.equal(cancels(mineA).length, 0)

  t.ok(services.tasks.end(a, 'deleted'))
  // DELETE on the control API awaits the broker's revokeTask as well: the same run is shared.
  await services.credentials.revokeTask(a)
  const c = cancels(mineA)
  t.equal(c.length, 1, 'one tasks/cancel for the ended task\'s MCP task')
  t.equal(c[0]!.headers['authorization'], `Bearer ${SERVER_SECRET}`, 'it carries the tool credential')
  t.equal(c[0]!.headers['mcp-session-id'], SESSION, 'on the session that created the task')
  t.equal(c[0]!.headers['mcp-protocol-version'], '2025-11-25')
  t.equal(c[0]!.revokedBefore, 0, 'it arrived before any credential was revoked')
  t.equal(revokedFor(a).length, 1, 'then the credential was revoked')
  const rec = cancelRecords(a)
  t.equal(rec.length, 1)
  t.match(rec[0], { tool: 'tasks-mcp', mcp_task: mineA, outcome: 'cancelled', upstream_status: 200, credential: { provider: 'mcp-secret' } })
  const iCancel = sink.records.indexOf(rec[0]!)
  const iRevoke = sink.records.indexOf(revokedFor(a)[0]!)
  t.ok(iCancel < iRevoke, 'the cancel is recorded before the revocation')
  t.equal(cancels(mineB).length, 0, 'the MCP task of another toolgate task is not cancelled')
  t.equal(cancelRecords(b).length, 0)
  t.notOk(JSON.stringify(sink.records).includes(SERVER_SECRET), 'no record carries the secret')

  // After its task ended, the agent cannot reach the MCP task either.
  const r = await request(`${gate.proxyUrl}/t/tasks-mcp/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', 'toolgate-task': a }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tasks/get', params: { taskId: mineA } }) })
  t.notOk(JSON.stringify(await r.body.json()).includes('"result"'), 'tasks/get of the ended task is refused')

  // A second end does not cancel again.
  await services.credentials.revokeTask(a)
  t.equal(cancels(mineA).length, 1)
  t.ok(services.tasks.end(b, 'deleted'))
  await services.credentials.revokeTask(b)
  t.equal(cancels(mineB).length, 1, 'b\'s own end cancels b\'s MCP task')
})

await t.test('a server that never answers the cancel: revocation happens anyway after the cancel timeout', async (t) => {
  const a = openTask()
  const mine = await startMcpTask(a, 3)
  hang.add(mine)
  const started = Date.now()
  t.ok(services.tasks.end(a, 'expired'))
  await waitFor(() => revokedFor(a).length === 1)
  const took = Date.now() - started
  t.equal(cancels(mine).length, 1, 'the cancel was sent')
  t.ok(took < 4500, `revoked within the bound (${took} ms)`)
  t.match(cancelRecords(a)[0], { outcome: 'timeout', upstream_status: null })
  t.match(revokedFor(a)[0], { reason: 'task_expired' })
})

await t.test('an answer on an SSE stream that stays open is read without waiting for the timeout; a refused cancel is recorded as refused', async (t) => {
  const a = openTask()
  const onSse = await startMcpTask(a, 4)
  const done = await startMcpTask(a, 5)
  sseOpen.add(onSse)
  finished.add(done)
  const started = Date.now()
  t.ok(services.tasks.end(a, 'deleted'))
  await services.credentials.revokeTask(a)
  const took = Date.now() - started
  t.ok(took < 1500, `done before the cancel timeout (${took} ms)`)
  const recs = cancelRecords(a)
  t.equal(recs.length, 2, 'one record per cancel')
  t.match(recs.find((r) => r.mcp_task === onSse), { outcome: 'cancelled', upstream_status: 200 })
  t.match(recs.find((r) => r.mcp_task === done), { outcome: 'refused', reason: /-32602: task already completed/ })
  t.equal(revokedFor(a).length, 1, 'revoked after both')
})
