// Task registry, task admin API and step-up approvals on a real HTTP server (loopback, port 0).

import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { TaskRegistry } from '../../proxy/src/tasks/registry.ts'
import { handleTasksApi } from '../../proxy/src/admin/api-tasks.ts'
import { ApprovalGate } from '../../proxy/src/admin/api-approvals.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { Approvers, APPROVAL_TYP } from '../../proxy/src/trust/approvers.ts'
import { trustedIssuer } from '../../proxy/src/trust/verify.ts'
import { startIssuer } from '../trust/issuer.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

type Route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, url: URL) => Promise<boolean>

async function serve(t: Test, routes: Route[]): Promise<string> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://admin')
      for (const r of routes) if (await r(req, res, url)) return
      res.writeHead(404)
      res.end()
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}


const json = (body: unknown, bearer?: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body: JSON.stringify(body) })
const auth = (bearer: string, method = 'GET'): RequestInit => ({ method, headers: { authorization: `Bearer ${bearer}` } })

t.test('task API: create, get, delete (→ revoke), precise 4xx', async (t) => {
  const tasks = new TaskRegistry({ defaultTtlS: 60, maxTtlS: 300, maxTasks: 2, registry: new Registry() })
  t.teardown(() => tasks.close())
  const revoked: string[] = []
  const ended: string[] = []
  tasks.on('ended', (task, reason) => ended.push(`${task.id}:${reason}`))
  let agentDeclared = false
  const base = await serve(t, [(req, res, url) => handleTasksApi(req, res, url, { tasks, knownTools: () => new Set(['search', 'kv']), revokeTask: async (id) => { revoked.push(id) }, agentDeclared: () => agentDeclared })])

  const off = await fetch(`${base}/v1/tasks`, json({ intent: 'find papers', tools: ['search'], ttl_s: 120 }))
  t.equal(off.status, 401, 'agent-declared tasks are off unless the operator turns them on')
  t.match(await off.json(), { error: 'unauthenticated', reason: /signed task grants \(Txn-Token header\); agent-declared tasks are off/ })
  t.equal(tasks.size, 0)
  const forged = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: { 'txn-token': 'eyJhbGciOiJub25lIn0.e30.' } })
  t.equal(forged.status, 401, 'a grant with no issuers configured is refused')
  agentDeclared = true

  const r = await fetch(`${base}/v1/tasks`, json({ intent: 'find papers', tools: ['search'], ttl_s: 120 }))
  t.equal(r.status, 201)
  const task = (await r.json()) as { id: string; expires_at: string; started_at: string; tools: string[]; calls: number; owner_token: string; source: string }
  t.match(task, { id: /^tsk_[A-Za-z0-9_-]{22}$/, tools: ['search'], calls: 0, source: 'agent', owner_token: /^tgo_/ })
  t.equal(Date.parse(task.expires_at) - Date.parse(task.started_at), 120_000)
  t.equal(r.headers.get('location'), `/v1/tasks/${task.id}`)

  tasks.countCall(task.id)
  t.equal((await fetch(`${base}/v1/tasks/${task.id}`)).status, 401, 'reading a task needs its owner credential')
  t.equal((await fetch(`${base}/v1/tasks/${task.id}`, auth('tgo_not-the-owner'))).status, 403, 'another owner token is refused')
  const g = await fetch(`${base}/v1/tasks/${task.id}`, auth(task.owner_token))
  t.equal(g.status, 200)
  t.match(await g.json(), { id: task.id, calls: 1, intent: 'find papers' })
  t.same(tasks.policyView(tasks.get(task.id)), { id: task.id, intent: 'find papers', declared_tools: ['search'], started_at: task.started_at, expires_at: task.expires_at, calls: 1, source: 'agent', issuer: null, limits: { max_calls: null } })

  const cases: [RequestInit, number, RegExp][] = [
    [json({ intent: '', tools: ['search'] }), 400, /intent must be a non-empty string/],
    [json({ intent: 'x', tools: 'search' }), 400, /tools must be an array/],
    [json({ intent: 'x', tools: ['Search!'] }), 400, /each tool must be a tool name/],
    [json({ intent: 'x', tools: ['kv', 'kv'] }), 400, /listed twice/],
    [json({ intent: 'x', tools: ['kv'], ttl_s: 301 }), 400, /ttl_s must be at most 300/],
    [json({ intent: 'x', tools: ['kv'], ttl_s: 1.5 }), 400, /positive integer/],
    [json({ intent: 'x', tools: ['kv'], admin: true }), 400, /unknown field "admin"/],
    [json({ intent: 'x', tools: ['nosuch'] }), 400, /unknown tool\(s\): nosuch/],
    [json([1]), 400, /JSON object/],
    [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"intent":' }, 400, /not valid JSON/],
    [{ method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }, 415, /application\/json/],
    [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ intent: 'x'.repeat(20000), tools: [] }) }, 413, /at most 16384 bytes/],
    [{ method: 'PUT' }, 405, /use POST/],
  ]
  for (const [init, status, reason] of cases) {
    const res = await fetch(`${base}/v1/tasks`, init)
    t.equal(res.status, status, `${init.method} ${String(init.body).slice(0, 40)} → ${status}`)
    t.match(((await res.json()) as { reason: string }).reason, reason)
  }
  const second = await fetch(`${base}/v1/tasks`, json({ intent: 'two', tools: [] }))
  t.equal(second.status, 201)
  const third = await fetch(`${base}/v1/tasks`, json({ intent: 'three', tools: [] }))
  t.equal(third.status, 429, 'max_tasks bound')

  t.equal((await fetch(`${base}/v1/tasks/${task.id}`, { method: 'DELETE' })).status, 401, 'ending a task needs its owner credential')
  const second2 = JSON.parse(await (await fetch(`${base}/v1/tasks`, json({ intent: 'other', tools: [] }))).text().catch(() => '{}')) as { owner_token?: string }
  t.notOk(second2.owner_token, 'quota of 2 reached: no third task')
  t.equal((await fetch(`${base}/v1/tasks/${task.id}`, auth('tgo_someone-else', 'DELETE'))).status, 403, "someone else's owner token cannot end it")
  const d = await fetch(`${base}/v1/tasks/${task.id}`, auth(task.owner_token, 'DELETE'))
  t.equal(d.status, 200)
  t.match(await d.json(), { id: task.id, ended: true })
  t.same(revoked, [task.id], 'delete revoked the task credentials')
  t.same(ended, [`${task.id}:deleted`], "'ended' emitted once")
  t.equal((await fetch(`${base}/v1/tasks/${task.id}`, auth(task.owner_token))).status, 404, 'gone after delete')
  t.equal((await fetch(`${base}/v1/tasks/${task.id}`, auth(task.owner_token, 'DELETE'))).status, 404, 'second delete is 404')
  t.equal((await fetch(`${base}/v1/tasks/..%2f`)).status, 404)
  t.equal((await fetch(`${base}/v1/other`)).status, 404, 'not its path: falls through')
})

t.test('task TTL: expired tasks end with reason expired (sweeper and lookup)', async (t) => {
  let now = 1_000_000
  const tasks = new TaskRegistry({ defaultTtlS: 10, maxTtlS: 10, maxTasks: 10, now: () => now, sweepMs: 20 })
  t.teardown(() => tasks.close())
  const ended: string[] = []
  tasks.on('ended', (task, reason) => ended.push(`${task.intent}:${reason}`))
  const a = tasks.create({ intent: 'a', tools: [] })
  const b = tasks.create({ intent: 'b', tools: [], ttl_s: 5 })
  if (!a.ok || !b.ok) throw new Error('create')
  now += 5000
  t.equal(tasks.get(b.task.id), undefined, 'lookup sees the expiry')
  t.ok(b.task.ended)
  t.ok(tasks.get(a.task.id), 'the other one is still open')
  now += 5000
  // The sweeper's next pass ends a. Its timer is unref'd (it must not keep a sidecar alive), so
  // a ref'd bound keeps this test's process up while it waits for the event.
  const bound = setTimeout(() => {}, 5000)
  await once(tasks, 'ended', { signal: AbortSignal.timeout(5000) })
  clearTimeout(bound)
  t.same(ended, ['b:expired', 'a:expired'], 'the sweeper ended the rest')
  t.equal(tasks.size, 0)
  t.throws(() => new TaskRegistry({ defaultTtlS: 20, maxTtlS: 10, maxTasks: 1 }))
})

t.test('approvals: approve, deny, timeout, bounded pending, webhook, records', async (t) => {
  const idp = await startIssuer('idp')
  t.teardown(() => idp.close())
  const APPROVALS_AUD = 'toolgate-approvals'
  const approverIssuers = [{ ...trustedIssuer({ name: 'corp', issuer: idp.issuer, jwks_url: idp.jwksUrl }, '/'), claims: { groups: 'toolgate-approvers' } }]
  const approvers = new Approvers({ approvers: () => approverIssuers, audience: () => APPROVALS_AUD, kubernetes: () => null })
  const now = () => Math.floor(Date.now() / 1000)
  const approver = await idp.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['staff', 'toolgate-approvers'], iat: now(), exp: now() + 300 })
  const notInGroup = await idp.sign({ sub: 'mallory@corp', aud: APPROVALS_AUD, groups: ['staff'], iat: now(), exp: now() + 300 })
  const records: Record<string, unknown>[] = []
  const hooks: Record<string, unknown>[] = []
  // Resolves when the webhook has announced d1 (the POST is fire and forget: wait for it, not a sleep).
  let announcedD1!: () => void
  const d1Announced = new Promise<void>((resolve) => { announcedD1 = resolve })
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>
      hooks.push(body)
      if (body['id'] === 'd1') announcedD1()
      res.end()
    })
  })
  await listenOnLoopback(hook, t)
  const registry = new Registry()
  const gate = new ApprovalGate({ approvers, timeoutMs: 1500, maxPending: 2, webhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, records: { write: (r) => records.push(r) }, logger: silentLogger, registry })
  t.teardown(() => gate.close())
  const base = await serve(t, [(req, res, url) => gate.handleApi(req, res, url)])
  const info = (id: string) => ({ decisionId: id, tool: 'db', method: 'DELETE', host: 'db.internal', path: '/rows', reason: 'destructive call', taskId: 'tsk_1', target: 'https://db.internal:443/rows', bodySha256: 'e3b0', callDigest: `digest-of-${id}` })

  const p1 = gate.request(info('d1'))
  const p2 = gate.request(info('d2'))
  const overflow = await gate.request(info('d3'))
  t.match(overflow, { approved: false, reason: /too many calls awaiting approval/ }, 'over the bound: denied at once')

  t.equal((await fetch(`${base}/v1/approvals`)).status, 401, 'listing needs an approver')
  t.equal((await fetch(`${base}/v1/approvals/d1`)).status, 401)
  t.equal((await fetch(`${base}/v1/approvals/d1`, json({ decision: 'approve', reason: 'LGTM - security team' }))).status, 401, 'an unauthenticated approval is refused')
  const mallory = await fetch(`${base}/v1/approvals/d1`, json({ decision: 'approve' }, notInGroup))
  t.equal(mallory.status, 403)
  t.match(await mallory.json(), { reason: /claim groups must be or contain "toolgate-approvers"/ })
  t.equal(gate.size, 2, 'still held')

  const list = (await (await fetch(`${base}/v1/approvals`, auth(approver))).json()) as { approvals: { id: string }[] }
  t.same(list.approvals.map((a) => a.id).sort(), ['d1', 'd2'])
  t.match(await (await fetch(`${base}/v1/approvals/d1`, auth(approver))).json(), { id: 'd1', tool: 'db', reason: 'destructive call', task: 'tsk_1', call_digest: 'digest-of-d1', target: 'https://db.internal:443/rows' })

  const bad = await fetch(`${base}/v1/approvals/d1`, json({ decision: 'maybe' }, approver))
  t.equal(bad.status, 400)
  t.match(await bad.json(), { reason: /"approve" or "deny"/ })
  t.equal((await fetch(`${base}/v1/approvals/nope`, json({ decision: 'approve' }, approver))).status, 404)
  t.equal((await fetch(`${base}/v1/approvals/d1`, { method: 'DELETE' })).status, 405)

  const shownOther = await fetch(`${base}/v1/approvals/d1`, json({ decision: 'approve', call_digest: 'digest-of-d2' }, approver))
  t.equal(shownOther.status, 403, 'a bearer approval naming another digest is refused')
  t.match(await shownOther.json(), { error: 'wrong_call', reason: /call_digest does not match the held call/ })
  const ok = await fetch(`${base}/v1/approvals/d1`, json({ decision: 'approve', reason: 'ticket OPS-1', call_digest: 'digest-of-d1' }, approver))
  t.equal(ok.status, 200)
  t.same(await p1, { approved: true, reason: 'approved by alice@corp (corp): ticket OPS-1' })
  const replay = await fetch(`${base}/v1/approvals/d1`, json({ decision: 'deny' }, approver))
  t.equal(replay.status, 409, 'answered once')
  t.match(await replay.json(), { error: 'already_answered', reason: /approval d1 was already resolved \(approved\); an approval is single use/ })

  // A signed decision for d2: for another call, for another digest, then the right one, then replayed.
  const decision = (o: Record<string, unknown>) => idp.sign({ sub: 'bob@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: now(), exp: now() + 60, decision: 'deny', approval_id: 'd2', call_digest: 'digest-of-d2', ...o }, { typ: APPROVAL_TYP })
  const forOther = await fetch(`${base}/v1/approvals/d2`, json({ decision_token: await decision({ approval_id: 'd1' }) }))
  t.equal(forOther.status, 403)
  t.match(await forOther.json(), { error: 'wrong_call', reason: /for another call \(approval d1\), not d2/ })
  const otherDigest = await fetch(`${base}/v1/approvals/d2`, json({ decision_token: await decision({ call_digest: 'digest-of-another-body' }) }))
  t.equal(otherDigest.status, 403)
  t.match(await otherDigest.json(), { reason: /signed for a different call \(call_digest does not match/ })
  const asBearer = await fetch(`${base}/v1/approvals/d2`, json({ decision: 'approve' }, await decision({})))
  t.equal(asBearer.status, 401, 'a signed decision is not a bearer credential')
  const unsignedTyp = await fetch(`${base}/v1/approvals/d2`, json({ decision_token: await idp.sign({ sub: 'bob@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: now(), exp: now() + 60, decision: 'approve', approval_id: 'd2', call_digest: 'digest-of-d2' }) }))
  t.equal(unsignedTyp.status, 401, 'an approver token is not a signed decision')
  const expired = await fetch(`${base}/v1/approvals/d2`, json({ decision_token: await decision({ iat: now() - 120, exp: now() - 60 }) }))
  t.equal(expired.status, 401)
  t.match(await expired.json(), { reason: /signed approval decision refused: expired at/ })
  const signed = await decision({ reason: 'not during the freeze' })
  t.equal((await fetch(`${base}/v1/approvals/d2`, json({ decision_token: signed }))).status, 200)
  t.same(await p2, { approved: false, reason: 'approval denied by bob@corp (corp): not during the freeze' })
  t.equal((await fetch(`${base}/v1/approvals/d2`, json({ decision_token: signed }))).status, 409, 'a replayed signed decision is refused')

  const started = Date.now()
  const timedOut = await gate.request(info('d4'))
  t.match(timedOut, { approved: false, reason: /timed out after 1500 ms/ })
  t.ok(Date.now() - started < 5000, "timeout is bounded")

  const ac = new AbortController()
  const cancelled = gate.request(info('d5'), ac.signal)
  ac.abort()
  t.match(await cancelled, { approved: false, reason: /cancelled/ })
  t.equal(gate.size, 0, 'nothing left pending')

  await d1Announced
  t.ok(hooks.some((h) => h.id === 'd1' && h.type === 'approval_requested'), 'webhook announced the request')
  const outcomes = records.filter((r) => r.type === 'approval_resolved').map((r) => `${r.approval_id}:${r.outcome}`).sort()
  t.same(outcomes, ['d1:approved', 'd2:denied', 'd3:overflow', 'd4:timeout', 'd5:cancelled'])
  t.match(records.find((r) => r.type === 'approval_resolved' && r.approval_id === 'd1'), { approver: 'alice@corp', approver_issuer: 'corp', approver_via: 'bearer' })
  t.match(records.find((r) => r.type === 'approval_resolved' && r.approval_id === 'd2'), { approver: 'bob@corp', approver_via: 'signed' })
  t.equal(records.filter((r) => r.type === 'approval_requested').length, 4)
  t.match(await registry.metrics(), /toolgate_approvals_total\{outcome="timeout"\} 1/)
})
