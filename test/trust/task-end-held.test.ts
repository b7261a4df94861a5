// A call held for approval must not outlive its task. The task that unlocked a delegate call is
// ended by its issuer (or its grant expires) while the call waits for a human; when the approver
// then approves (the approval list still showed it), the call went out anyway: the pipeline found
// no task any more and the broker issued the credential under "no task", which no task end ever
// revokes. A real toolgate, a real JWKS issuer and approver IdP, a real upstream.

import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { grantClaims, startIssuer } from './issuer.ts'
import { AUD, APPROVALS_AUD, ME, agentYaml, apiSecret, apiToolYaml } from './fixture.ts'


const upstream = await startUpstream()
const orch = await startIssuer('orchestrator')
const corp = await startIssuer('corp')
t.teardown(async () => { await upstream.close(); await orch.close(); await corp.close() })

const { credentialsYaml } = apiSecret('toolgate-held-')
const gate = await startTestToolgate(`version: 1
${testListeners}
${agentYaml()}
approvals:
  timeout_ms: 8000
  audience: ${APPROVALS_AUD}
  approvers:
    - { name: corp, issuer: "${corp.issuer}", jwks_url: "${corp.jwksUrl}", claims: { groups: toolgate-approvers } }
tasks:
  audience: ${AUD}
  issuers:
    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}" }
${credentialsYaml}${apiToolYaml(upstream.port, ['{ methods: [POST], path: "/approve-me", access: delegate }', '{ methods: [GET], path: "/**" }'])}`)
t.teardown(() => gate.close())
const proxy = new ProxyAgent(gate.proxyUrl)
t.teardown(() => proxy.close())

const nowS = () => Math.floor(Date.now() / 1000)
const approver = async () => ({ authorization: `Bearer ${await corp.sign({ sub: 'alice@corp', aud: APPROVALS_AUD, groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })}`, 'content-type': 'application/json' })
const reached = () => upstream.received.filter((r) => r.url === '/approve-me')

async function holdCall(token: string): Promise<{ held: Promise<number>; approvalId: string; taskId: string }> {
  const from = gate.records.length
  const held = request(`${upstream.url}/approve-me`, { method: 'POST', headers: { 'txn-token': token, 'content-type': 'application/json' }, body: '{"delegate":"to-bot"}', dispatcher: proxy })
    .then(async (r) => { await r.body.dump(); return r.statusCode })
  await gate.recorded((r, i) => i >= from && r['type'] === 'approval_requested') // held: announced
  const res = await fetch(`${gate.controlUrl}/v1/approvals`, { headers: await approver() })
  const pending = ((await res.json()) as { approvals: Array<{ id: string; task: string }> }).approvals
  if (pending.length !== 1) throw new Error('the call was not held')
  return { held, approvalId: pending[0]!.id, taskId: pending[0]!.task }
}

t.test('a held call whose task its issuer ended is not released by a later approval', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: 'txntoken+jwt' })
  const { held, approvalId, taskId } = await holdCall(token)
  const issuerToken = await orch.sign({ sub: 'orchestrator', aud: AUD, iat: nowS(), exp: nowS() + 60 })
  const del = await fetch(`${gate.controlUrl}/v1/tasks/${taskId}`, { method: 'DELETE', headers: { authorization: `Bearer ${issuerToken}` } })
  t.equal(del.status, 200, 'the issuer ends the task')
  // The approver, who does not know, approves what may still be listed.
  const ok = await fetch(`${gate.controlUrl}/v1/approvals/${approvalId}`, { method: 'POST', headers: await approver(), body: JSON.stringify({ decision: 'approve' }) })
  await ok.text()
  t.equal(await held, 403, 'the held call is denied')
  t.same(reached(), [], 'nothing reached the tool')
  const resolved = gate.records.find((r) => r.type === 'approval_resolved' && r.approval_id === approvalId) as Record<string, unknown> | undefined
  t.match(resolved, { outcome: 'cancelled', reason: /task .* has ended/ })
  const issued = gate.records.filter((r) => (r.type === 'credential_issued' && JSON.stringify(r).includes(approvalId)) || (r.type === 'decision' && r.id === approvalId && r.credential))
  t.same(issued, [], 'no credential was issued for it')
})

t.test('a held call whose grant expired while it waited is not released by a later approval', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'], ttlS: 2 }), { typ: 'txntoken+jwt' })
  const { held, approvalId, taskId } = await holdCall(token)
  // The grant expires (2 s): wait for the registry to end its task (an event, not a sleep).
  await gate.recorded((r) => r['type'] === 'task_ended' && r['task'] === taskId, 8000)
  const ok = await fetch(`${gate.controlUrl}/v1/approvals/${approvalId}`, { method: 'POST', headers: await approver(), body: JSON.stringify({ decision: 'approve' }) })
  await ok.text()
  t.equal(await held, 403, 'the held call is denied')
  t.same(reached(), [], 'nothing reached the tool')
})

// Records redact query values (docs/proxy.md: values may hold personal data or tokens); the
// approval_requested record carried the held call's full target, query values and all. The
// approval API and the webhook still give approvers the full target (the digest covers it).
t.test('the approval_requested record redacts query values', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: 'txntoken+jwt' })
  const from = gate.records.length
  const held = request(`${upstream.url}/approve-me?token=s3cret-value&x`, { method: 'POST', headers: { 'txn-token': token, 'content-type': 'application/json' }, body: '{}', dispatcher: proxy })
    .then(async (r) => { await r.body.dump(); return r.statusCode })
  await gate.recorded((r, i) => i >= from && r['type'] === 'approval_requested') // held: announced
  const res = await fetch(`${gate.controlUrl}/v1/approvals`, { headers: await approver() })
  const pending = ((await res.json()) as { approvals: Array<{ id: string; target: string }> }).approvals
  t.match(pending[0]?.target, /token=s3cret-value/, 'the approver sees the full target')
  const rec = gate.records.find((r) => r.type === 'approval_requested' && r.id === pending[0]?.id)
  t.ok(rec, 'announced in a record')
  t.notMatch(JSON.stringify(rec), /s3cret-value/, 'the record holds no query value')
  t.match(rec, { target: /\?token=_&x$/ })
  await (await fetch(`${gate.controlUrl}/v1/approvals/${pending[0]!.id}`, { method: 'POST', headers: await approver(), body: JSON.stringify({ decision: 'deny' }) })).text()
  t.equal(await held, 403)
})
