// The agent as attacker. A real toolgate (default policy bundle, real listeners) with a static
// credential for a real upstream, task grants from a real JWKS issuer and approvers from another.
// The test plays a compromised agent inside the pod: same loopback, no credentials of its own
// (it may hold the grant the platform gave it, and can mint tokens with keys it generates). It
// tries every control endpoint and every forgery. It never unlocks a write, never releases a held
// call, never ends a task; each refusal is recorded with a precise reason; the secret it should
// never see appears nowhere it can read.

import t from 'tap'
import { SignJWT } from 'jose'
import fc from 'fast-check'
import { ProxyAgent, request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { grantClaims, startIssuer } from './issuer.ts'
import { AUD, APPROVALS_AUD, ME, agentYaml, apiSecret, apiToolYaml } from './fixture.ts'
import { APPROVAL_TYP } from '../../proxy/src/trust/approvers.ts'
import { callDigest } from '../../proxy/src/trust/call-digest.ts'

const TYP = 'txntoken+jwt'

const upstream = await startUpstream()
const orch = await startIssuer('orchestrator')
const corp = await startIssuer('corp')
const attacker = await startIssuer('attacker') // the agent's own "issuer": keys it generated, a JWKS it serves
t.teardown(async () => { await upstream.close(); await orch.close(); await corp.close(); await attacker.close() })

const { secret: SECRET, credentialsYaml } = apiSecret('toolgate-attack-')
const yaml = (agentDeclared: boolean) => `version: 1
${testListeners}  metrics: { host: 127.0.0.1, port: 0 }
${agentYaml()}
approvals:
  timeout_ms: 4000
  audience: ${APPROVALS_AUD}
  approvers:
    - { name: corp, issuer: "${corp.issuer}", jwks_url: "${corp.jwksUrl}", claims: { groups: toolgate-approvers } }
tasks:
  audience: ${AUD}
  agent_declared: ${agentDeclared}
  max_tasks: 5
  issuers:
    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}", max_tasks: 20 }
${credentialsYaml}${apiToolYaml(upstream.port, ['{ methods: [POST], path: "/write", access: write }', '{ methods: [POST], path: "/approve-me", access: delegate }', '{ methods: [GET], path: "/**" }'])}`
const fixListeners = (y: string) => y.replace('logging: { level: error }\n  metrics:', 'logging: { level: error }\nlisteners_metrics:')
// testListeners ends with the logging line; put the metrics listener under listeners instead.
const config = (agentDeclared: boolean) => fixListeners(yaml(agentDeclared)).replace('listeners_metrics: { host: 127.0.0.1, port: 0 }\n', '').replace('  admin: { host: 127.0.0.1, port: 0 }\n', '  admin: { host: 127.0.0.1, port: 0 }\n  metrics: { host: 127.0.0.1, port: 0 }\n')

const gate = await startTestToolgate(config(false))
t.teardown(() => gate.close())
const proxy = new ProxyAgent(gate.proxyUrl)
t.teardown(() => proxy.close())

const seen: string[] = []
/** Every token minted in this test: none may show up in a record or log line. */
const minted: string[] = []
const nowS = () => Math.floor(Date.now() / 1000)
const grant = async (o: Partial<Parameters<typeof grantClaims>[0]> = {}) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'], ...o }), { typ: TYP })
  minted.push(token)
  return token
}

/** The agent's outbound call through the proxy. */
async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await request(`${upstream.url}${path}`, { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body ? { body } : {}), dispatcher: proxy })
  const text = await res.body.text()
  // The test upstream echoes what it received (including the injected credential, on purpose):
  // what toolgate itself told the agent is what must never hold the secret.
  if (res.statusCode !== 200) seen.push(JSON.stringify(res.headers), text)
  return { status: res.statusCode, body: JSON.parse(text) as Record<string, any> }
}

/** The agent's direct call to one of toolgate's listeners. */
async function hit(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const res = await fetch(`${base}${path}`, { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const text = await res.text()
  seen.push(text)
  return { status: res.status, text }
}

const writesReached = () => upstream.received.filter((r) => r.url === '/write' || r.url === '/approve-me')
const lastDecision = () => gate.records.filter((r) => r.type === 'decision').at(-1) as Record<string, any>

t.test('without a grant the agent cannot open a task or unlock a write', async (t) => {
  t.equal((await call('POST', '/write', {}, '{}')).status, 403)
  t.match(lastDecision().reasons, [/write access to tool api needs a task/])
  const post = await hit(gate.controlUrl, 'POST', '/v1/tasks', {}, { intent: 'anything', tools: ['api'], ttl_s: 86400 })
  t.equal(post.status, 401, 'POST /v1/tasks without a grant is refused')
  t.match(post.text, /agent-declared tasks are off/)
  for (const id of ['tsk_guess', 'anything', '../../v1/tasks']) {
    const r = await call('POST', '/write', { 'toolgate-task': id }, '{}')
    t.equal(r.status, 403, `invented task id ${id}`)
  }
  t.equal((await hit(gate.adminUrl, 'POST', '/v1/tasks', {}, { intent: 'x', tools: ['api'] })).status, 404, 'the admin listener serves no task API')
  t.equal((await hit(gate.tg.metricsUrl!, 'POST', '/v1/tasks', {}, { intent: 'x', tools: ['api'] })).status, 404, 'nor does the metrics listener')
  t.equal((await hit(gate.tg.metricsUrl!, 'GET', '/v1/approvals')).status, 404)
  t.equal((await hit(gate.tg.metricsUrl!, 'GET', '/metrics')).status, 200, 'the metrics listener serves /metrics')
  t.same(writesReached(), [], 'no write reached the tool')
})

t.test('every forged grant is refused with a precise reason in the record', async (t) => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const claims = { ...grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), iss: orch.issuer }
  const forgeries: Array<[string, string | Promise<string>, RegExp]> = [
    ['alg none', `${b64({ alg: 'none', typ: TYP })}.${b64(claims)}.`, /alg "none"/],
    ['HS256 keyed with the issuer public key', new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: TYP }).sign(Buffer.from(orch.keys[0]!.spkiPem)), /alg "HS256" is not accepted/],
    ['self-issued (unknown issuer)', attacker.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: TYP }), /unknown issuer/],
    ['self-signed under the real issuer name', attacker.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: TYP, iss: orch.issuer, kid: orch.keys[0]!.kid }), /bad signature/],
    ['grant for another workload', grant({ sub: 'system:serviceaccount:agents:admin-bot' }), /sub "system:serviceaccount:agents:admin-bot" is another workload/],
    ['grant for another trust domain', grant({ aud: 'toolgate://staging.example' }), /audience "toolgate:\/\/staging.example" is not this trust domain/],
    ['expired grant', grant({ iatOffsetS: -600, ttlS: 300 }), /expired at/],
    ['not yet valid', grant({ extra: { nbf: nowS() + 300 } }), /not valid before/],
    ['an ID token of the issuer, not a txn token', orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: 'JWT' }), /header typ must be "txntoken\+jwt"/],
    ['tools not in config', grant({ tools: ['api', 'payroll'] }), /"payroll", which is not a tool in this config/],
    ['missing claims', orch.sign({ sub: ME, aud: AUD, iat: nowS(), exp: nowS() + 60 }, { typ: TYP }), /the txn claim is missing/],
  ]
  for (const [name, token, reason] of forgeries) {
    const r = await call('POST', '/write', { 'txn-token': await token }, '{}')
    t.equal(r.status, 403, name)
    t.match(r.body.error.message, reason, `${name}: the agent is told why`)
    const rec = lastDecision()
    t.match(rec, { decision: 'deny', stage: 'task' }, name)
    t.match(rec.reasons[0], reason, `${name}: the record says why`)
    // The control API refuses the same grant.
    t.equal((await hit(gate.controlUrl, 'POST', '/v1/tasks', { 'txn-token': await token })).status, 401, `${name}: refused by the control API too`)
  }
  const both = await call('POST', '/write', { 'txn-token': await grant(), 'toolgate-task': 'tsk_x' }, '{}')
  t.match(both.body.error.message, /either a Txn-Token or a toolgate-task header, not both/)
  t.same(writesReached(), [], 'no write reached the tool')
})

t.test('a valid grant unlocks the declared write, with the credential injected', async (t) => {
  const r = await call('POST', '/write', { 'txn-token': await grant() }, '{"x":1}')
  t.equal(r.status, 200)
  t.equal(writesReached().length, 1)
  t.equal(writesReached()[0]!.headers.authorization, `Bearer ${SECRET}`, 'credential injected upstream')
  t.notOk(writesReached()[0]!.headers['txn-token'], 'the grant is not forwarded to the tool')
  t.match(lastDecision(), { decision: 'allow', task: /^tsk_/ })
  const opened = gate.records.find((r) => r.type === 'task_opened' && r.task === lastDecision().task)
  t.match(opened, { source: 'issuer', issuer: 'orchestrator', subject: ME, requester: /^spiffe:/, tools: ['api'] }, 'task_opened links the task to its grant')
  upstream.received.length = 0
})

t.test('the agent cannot end a task, even holding its grant', async (t) => {
  const token = await grant()
  const reg = await hit(gate.controlUrl, 'POST', '/v1/tasks', { 'txn-token': token })
  t.equal(reg.status, 201, 'the grant registers its task')
  const id = (JSON.parse(reg.text) as { id: string }).id
  const selfSigned = await attacker.sign({ sub: 'orchestrator', aud: AUD, iat: nowS(), exp: nowS() + 60 }, { iss: orch.issuer, kid: orch.keys[0]!.kid })
  const attempts: Array<[string, Record<string, string>, number]> = [
    ['no credential', {}, 401],
    ['its own grant as bearer', { authorization: `Bearer ${token}` }, 403],
    ['a self-signed issuer token', { authorization: `Bearer ${selfSigned}` }, 403],
    ['an approver token', { authorization: `Bearer ${await corp.sign({ sub: 'alice', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })}` }, 403],
    ['garbage', { authorization: 'Basic YWRtaW46YWRtaW4=' }, 401],
  ]
  for (const [name, headers, status] of attempts) {
    t.equal((await hit(gate.controlUrl, 'DELETE', `/v1/tasks/${id}`, headers)).status, status, name)
    t.equal((await hit(gate.controlUrl, 'GET', `/v1/tasks/${id}`, headers)).status, status, `${name} (read)`)
  }
  t.equal((await call('GET', '/read', { 'toolgate-task': id })).status, 200, 'the task is still open')
  const issuerToken = await orch.sign({ sub: 'orchestrator', aud: AUD, iat: nowS(), exp: nowS() + 60 })
  t.equal((await hit(gate.controlUrl, 'DELETE', `/v1/tasks/${id}`, { authorization: `Bearer ${issuerToken}` })).status, 200, 'its issuer ends it')
  t.match(gate.records.find((r) => r.type === 'task_ended' && r.task === id), { reason: 'deleted', issuer: 'orchestrator' })
  const after = await call('POST', '/write', { 'txn-token': token }, '{}')
  t.equal(after.status, 403)
  t.match(after.body.error.message, /has ended; a new task needs a new grant/, 'the ended grant cannot reopen its task')
})

t.test('the agent cannot release a held call; an approver can, bound to that call', async (t) => {
  const token = await grant()
  const body = '{"delegate":"to-bot"}'
  const from = gate.records.length
  const held = call('POST', '/approve-me', { 'txn-token': token }, body)
  const approver = { authorization: `Bearer ${await corp.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })}` }
  await gate.recorded((r, i) => i >= from && r['type'] === 'approval_requested') // held: announced
  const pending = (JSON.parse((await hit(gate.controlUrl, 'GET', '/v1/approvals', approver)).text) as { approvals: Array<{ id: string; call_digest: string }> }).approvals
  t.equal(pending.length, 1, 'held and announced')
  const id = pending[0]!.id
  t.equal(pending[0]!.call_digest, callDigest({ method: 'POST', target: { scheme: 'http', host: '127.0.0.1', hostIsIp: true, port: upstream.port, path: '/approve-me', query: '' } }, Buffer.from(body)).digest, 'the digest covers method, target and body')

  const selfApprover = await attacker.sign({ sub: 'agent', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })
  const forgedUnderCorp = await attacker.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 }, { iss: corp.issuer, kid: corp.keys[0]!.kid })
  const forgedDecision = await attacker.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60, decision: 'approve', approval_id: id, call_digest: pending[0]!.call_digest }, { typ: APPROVAL_TYP, iss: corp.issuer, kid: corp.keys[0]!.kid })
  const tries: Array<[string, Record<string, string>, unknown]> = [
    ['no credential', {}, { decision: 'approve', reason: 'LGTM - security team' }],
    ['the agent grant as bearer', { authorization: `Bearer ${token}` }, { decision: 'approve' }],
    ['a self-issued approver token', { authorization: `Bearer ${selfApprover}` }, { decision: 'approve' }],
    ['an approver token forged under the IdP name', { authorization: `Bearer ${forgedUnderCorp}` }, { decision: 'approve' }],
    ['a forged signed decision', {}, { decision_token: forgedDecision }],
    ['the grant as a signed decision', {}, { decision_token: token }],
  ]
  for (const [name, headers, b] of tries) {
    const r = await hit(gate.controlUrl, 'POST', `/v1/approvals/${id}`, headers, b)
    t.ok(r.status === 401 || r.status === 403, `${name}: ${r.status}`)
  }
  t.equal((await hit(gate.controlUrl, 'GET', '/v1/approvals')).status, 401, 'the agent cannot even list approvals')
  t.same(writesReached(), [], 'still held: nothing reached the tool')

  // A signed decision for this approval id but another body (what the agent might hope to slip through).
  const otherBody = callDigest({ method: 'POST', target: { scheme: 'http', host: '127.0.0.1', hostIsIp: true, port: upstream.port, path: '/approve-me', query: '' } }, Buffer.from('{"delegate":"to-attacker"}')).digest
  const wrongDigest = await corp.sign({ sub: 'bob@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60, decision: 'approve', approval_id: id, call_digest: otherBody }, { typ: APPROVAL_TYP })
  const wd = await hit(gate.controlUrl, 'POST', `/v1/approvals/${id}`, {}, { decision_token: wrongDigest })
  t.equal(wd.status, 403)
  t.match(wd.text, /signed for a different call/)

  const ok = await hit(gate.controlUrl, 'POST', `/v1/approvals/${id}`, approver, { decision: 'approve', reason: 'ticket OPS-7' })
  t.equal(ok.status, 200)
  const released = await held
  t.equal(released.status, 200, 'released by the approver')
  t.equal(writesReached()[0]!.body, body, 'exactly the held body was forwarded')
  const resolved = gate.records.find((r) => r.type === 'approval_resolved' && r.approval_id === id) as Record<string, any>
  t.match(resolved, { outcome: 'approved', approver: 'alice@corp', approver_issuer: 'corp', approver_via: 'bearer', reason: 'approved by alice@corp (corp): ticket OPS-7' })
  const replay = await hit(gate.controlUrl, 'POST', `/v1/approvals/${id}`, approver, { decision: 'approve' })
  t.equal(replay.status, 409, 'a replayed approval is refused')
  t.match(replay.text, /already resolved \(approved\); an approval is single use/)
  upstream.received.length = 0
})

t.test('agent-declared tasks, when turned on, never unlock write or delegate, and cannot starve grants', async (t) => {
  const g2 = await startTestToolgate(config(true))
  t.teardown(() => g2.close())
  const p2 = new ProxyAgent(g2.proxyUrl)
  t.teardown(() => p2.close())
  const created = await hit(g2.controlUrl, 'POST', '/v1/tasks', {}, { intent: 'anything', tools: ['api'], ttl_s: 600 })
  t.equal(created.status, 201)
  const mine = JSON.parse(created.text) as { id: string; source: string; owner_token: string }
  t.equal(mine.source, 'agent')
  const w = await request(`${upstream.url}/write`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'toolgate-task': mine.id }, dispatcher: p2 })
  t.equal(w.statusCode, 403)
  t.match(((await w.body.json()) as { error: { message: string } }).error.message, /write access to tool api needs a task from a trusted issuer \(task tsk_[^ ]+ was declared by the agent\)/)
  const r = await request(`${upstream.url}/read`, { headers: { 'toolgate-task': mine.id }, dispatcher: p2 })
  t.equal(r.statusCode, 200, 'reads are fine')
  await r.body.dump()
  // Exhaust the agent quota: grants still open tasks (per-issuer quotas).
  let last = 0
  for (let i = 0; i < 10; i++) last = (await hit(g2.controlUrl, 'POST', '/v1/tasks', {}, { intent: `spam ${i}`, tools: [] })).status
  t.equal(last, 429, 'the agent quota is bounded')
  const g = await request(`${upstream.url}/write`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'txn-token': await grant() }, dispatcher: p2 })
  t.equal(g.statusCode, 200, 'a grant still opens its task')
  await g.body.dump()
  upstream.received.length = 0
})

t.test('property: no unauthenticated control request succeeds or changes anything', async (t) => {
  const token = await grant()
  const reg = await hit(gate.controlUrl, 'POST', '/v1/tasks', { 'txn-token': token })
  const taskId = (JSON.parse(reg.text) as { id: string }).id
  const from = gate.records.length
  const held = call('POST', '/approve-me', { 'txn-token': token }, '{"p":1}')
  const approver = { authorization: `Bearer ${await corp.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })}` }
  const announced = await gate.recorded((r, i) => i >= from && r['type'] === 'approval_requested')
  const approvalId = String(announced['id'] ?? '')
  t.not(approvalId, '', 'a call is held')
  const selfSigned = await attacker.sign({ sub: 'x', aud: [AUD, APPROVALS_AUD], groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })
  const paths = ['/v1/tasks', `/v1/tasks/${taskId}`, '/v1/approvals', `/v1/approvals/${approvalId}`, '/v1/approvals/x', '/v1/tasks/tsk_x', '/metrics', '/', '/v1/tasks/', '/v1/approvals/']
  const auths = [undefined, `Bearer ${token}`, `Bearer ${selfSigned}`, 'Bearer tgo_guess', 'Basic YTpi', 'Bearer ']
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH'),
    fc.constantFrom(...paths),
    fc.constantFrom(...auths),
    fc.option(fc.constantFrom({ decision: 'approve' }, { decision: 'approve', reason: 'LGTM - security team' }, { decision_token: selfSigned }, { decision_token: token }, { intent: 'x', tools: ['api'], ttl_s: 86400 }), { nil: undefined }),
    async (method, path, authorization, body) => {
      const headers: Record<string, string> = authorization ? { authorization } : {}
      const r = await hit(gate.controlUrl, method, path, headers, method === 'GET' || method === 'DELETE' ? undefined : body)
      return r.status >= 400
    },
  ), { numRuns: 150 })
  t.equal((await call('GET', '/read', { 'toolgate-task': taskId })).status, 200, 'the task is still open')
  t.same(writesReached(), [], 'the held call is still held')
  const ok = await hit(gate.controlUrl, 'POST', `/v1/approvals/${approvalId}`, approver, { decision: 'deny' })
  t.equal(ok.status, 200)
  t.equal((await held).status, 403, 'denied by the approver')
})

t.test('nothing the agent saw holds the secret; no token is in a record or log', async (t) => {
  const metrics = await (await fetch(`${gate.adminUrl}/metrics`)).text()
  const haystack = [seen.join('\n'), JSON.stringify(gate.records), gate.logs.join('\n'), metrics].join('\n')
  t.notOk(haystack.includes(SECRET), 'the static secret appears nowhere')
  t.match(metrics, /toolgate_task_grants_total\{issuer="unknown",result="refused"\} \d+/)
  t.match(metrics, /toolgate_task_grants_total\{issuer="orchestrator",result="opened"\} \d+/)
  const logsAndRecords = [JSON.stringify(gate.records), gate.logs.join('\n'), metrics].join('\n')
  t.ok(minted.length > 5)
  for (const m of minted) t.notOk(logsAndRecords.includes(m.split('.')[2]!), 'a grant appears in no record, log or metric')
})
