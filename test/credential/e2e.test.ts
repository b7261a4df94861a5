// End to end through a real toolgate: agent → toolgate (forward proxy, real policy engine) →
// upstream that validates the injected token for real (signature against oidc-provider's JWKS,
// issuer, audience, expiry). The agent holds no secret; its own Authorization/Cookie never reach
// the tool; the task header is stripped; the task comes from a signed grant (a real JWKS issuer,
// test/trust/issuer.ts) and ending it (by that issuer) revokes at the IdP; a step-up call is
// released by an authenticated approver. Then the secret test over every byte the agent
// received, every record, log line and /metrics.

import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, request } from 'undici'
import { startIdp, JWT_RESOURCE, OPAQUE_RESOURCE } from './idp.ts'
import { startVerifier } from './verifier.ts'
import { startTestToolgate, testListeners, testConfig } from '../helpers/toolgate.ts'
import { createCredentialServices } from '../../proxy/src/credential/wiring.ts'
import { Metrics } from '../../proxy/src/record/metrics.ts'
import { grantClaims, startIssuer } from '../trust/issuer.ts'
import { createLogger } from '../../proxy/src/record/log.ts'

const idp = await startIdp()
t.teardown(() => idp.close())
const api = await startVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: JWT_RESOURCE })
t.teardown(() => api.close())

const orch = await startIssuer('orchestrator')
const corp = await startIssuer('corp')
t.teardown(async () => { await orch.close(); await corp.close() })
const AUD = 'toolgate://e2e'
const ME = 'system:serviceaccount:agents:research'
const nowS = () => Math.floor(Date.now() / 1000)
const grant = async (tools: string[]) => orch.sign(grantClaims({ sub: ME, aud: AUD, tools }), { typ: 'txntoken+jwt' })
const issuerToken = async () => orch.sign({ sub: 'orchestrator', aud: AUD, iat: nowS(), exp: nowS() + 60 })
const approverToken = async () => corp.sign({ sub: 'alice@corp', aud: 'toolgate-approvals', groups: ['toolgate-approvers'], iat: nowS(), exp: nowS() + 60 })

const dir = mkdtempSync(join(tmpdir(), 'toolgate-e2e-'))
writeFileSync(join(dir, 'cc.secret'), idp.secrets.basic, { mode: 0o600 })
const port = new URL(api.url).port
const yaml = `version: 1
${testListeners}
agent: { namespace: agents, service_account: research }
tasks:
  audience: ${AUD}
  issuers:
    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}" }
approvals:
  audience: toolgate-approvals
  approvers:
    - { name: corp, issuer: "${corp.issuer}", jwks_url: "${corp.jwksUrl}", claims: { groups: toolgate-approvers } }
credentials:
  idp:
    type: oauth2_client_credentials
    token_url: ${idp.tokenUrl}
    revocation_url: ${idp.revocationUrl}
    client_id: cc-basic
    client_secret_file: ${join(dir, 'cc.secret')}
tools:
  - name: api
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
      - { methods: [GET], path: "/approve-me", access: delegate }
      - { methods: [GET], path: "/**" }
    credential: { provider: idp, resource: "${JWT_RESOURCE}", scopes: [read] }
  - name: opaque
    match: { scheme: http, host: localhost, port: ${port} }
    allow_addresses: [127.0.0.0/8, "::1/128"]
    routes:
      - { methods: [GET], path: "/**" }
    credential: { provider: idp, resource: "${OPAQUE_RESOURCE}", scopes: [read] }
`
const config = testConfig(yaml, dir)
const metrics = new Metrics({ processMetrics: false })
const logs: string[] = []
const svcRecords: Record<string, unknown>[] = []
const services = await createCredentialServices(config, { registry: metrics.registry, logger: createLogger({ level: 'debug', write: (l) => { logs.push(l) } }), records: { write: (r) => { svcRecords.push(r) } } })
// The real policy engine on the embedded default bundle decides: reads inside a task that
// declared the tool pass, and delegate access (the /approve-me route) asks for step-up approval.
const gate = await startTestToolgate(yaml, { metrics, services: { tasks: services.tasks, credentials: services.credentials, approvals: services.approvals, grants: services.grants }, adminRoutes: services.adminRoutes, controlRoutes: services.controlRoutes })
t.teardown(async () => { await gate.close(); await services.close() })

const proxyAgent = new ProxyAgent(gate.proxyUrl)
t.teardown(() => proxyAgent.close())
const agentBytes: string[] = []
async function agentCall(url: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url, { method: 'GET', headers, dispatcher: proxyAgent })
  const text = await res.body.text()
  agentBytes.push(JSON.stringify(res.headers), text)
  return { status: res.statusCode, body: JSON.parse(text) as Record<string, unknown> }
}

t.test('an allowed call arrives with a valid, task-scoped token the agent never saw', async (t) => {
  const created = await fetch(`${gate.controlUrl}/v1/tasks`, { method: 'POST', headers: { 'txn-token': await grant(['api', 'opaque']) } })
  const createdText = await created.text()
  agentBytes.push(createdText)
  t.equal(created.status, 201, createdText)
  const task = JSON.parse(createdText) as { id: string }

  const res = await agentCall(`${api.url}/v1/things`, { authorization: 'Bearer agent-forged', cookie: 'sid=agent', 'toolgate-task': task.id })
  t.equal(res.status, 200, `upstream validated the token: ${JSON.stringify(res.body)}`)
  t.match(res.body, { ok: true, sub: 'cc-basic', aud: JWT_RESOURCE, scope: 'read' })
  const seen = api.seen.at(-1)!
  t.notOk(seen.cookie, 'agent cookie removed')
  t.notOk(seen['toolgate-task'], 'task header removed before forwarding')
  t.not(seen.authorization, 'Bearer agent-forged')

  const rec = gate.records.filter((r) => r.type === 'decision').at(-1) as Record<string, any>
  t.equal(rec.decision, 'allow')
  const issued = svcRecords.find((r) => r.type === 'credential_issued') as Record<string, any>
  t.ok(issued, 'issuance recorded')
  t.equal(issued.task, task.id)
  t.ok(JSON.stringify(rec).includes(issued.issuance_id as string), 'the decision record names the issuance')

  const op = await agentCall(`http://localhost:${port}/x`, { 'toolgate-task': task.id })
  t.equal(op.status, 401, 'opaque token reached the upstream (which only verifies JWTs)')
  const opaqueToken = String(api.seen.at(-1)!.authorization).slice(7)
  t.equal((await idp.introspect(opaqueToken, 'cc-basic', idp.secrets.basic)).active, true)

  const del = await fetch(`${gate.controlUrl}/v1/tasks/${task.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await issuerToken()}` } })
  agentBytes.push(await del.text())
  t.equal(del.status, 200)
  t.equal((await idp.introspect(opaqueToken, 'cc-basic', idp.secrets.basic)).active, false, 'deleting the task revoked the token at the issuer')
  t.ok(svcRecords.some((r) => r.type === 'credential_revoked' && r.result === 'revoked' && r.task === task.id))

  const after = await agentCall(`${api.url}/v1/things`, { 'toolgate-task': task.id })
  t.not(after.status, 200, 'the ended task no longer gets through with a credential')
})

t.test('step-up approval: the call is held until an authenticated approver approves on the control API', async (t) => {
  // The agent presents its grant in the Txn-Token header; no task registration needed.
  const held = agentCall(`${api.url}/approve-me`, { 'txn-token': await grant(['api']) })
  const approver = { authorization: `Bearer ${await approverToken()}` }
  let pending: { approvals: { id: string; path: string }[] } = { approvals: [] }
  for (let i = 0; i < 50 && pending.approvals.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20))
    pending = (await (await fetch(`${gate.controlUrl}/v1/approvals`, { headers: approver })).json()) as typeof pending
  }
  t.equal(pending.approvals.length, 1, 'the call is announced as pending')
  t.equal(pending.approvals[0]!.path, '/approve-me')
  const ok = await fetch(`${gate.controlUrl}/v1/approvals/${pending.approvals[0]!.id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...approver }, body: JSON.stringify({ decision: 'approve' }) })
  t.equal(ok.status, 200)
  const res = await held
  t.equal(res.status, 200, 'released and forwarded with a valid token')
  t.match(res.body, { ok: true, sub: 'cc-basic' })
  t.match(svcRecords.find((r) => r.type === 'approval_resolved'), { outcome: 'approved', approver: 'alice@corp', approver_issuer: 'corp' })
})

t.test('IdP down: the call is refused with 503 and a reason, quickly', async (t) => {
  idp.mode = 'fail500'
  t.teardown(() => { idp.mode = 'ok' })
  const started = Date.now()
  const res = await agentCall(`${api.url}/x`, { 'txn-token': await grant(['api']) })
  t.equal(res.status, 503)
  t.match((res.body.error as { message: string }).message, /credential provider "idp" failed: .*answered 500/)
  t.ok(Date.now() - started < 6000, 'within the provider bound (default 5 s)')
  const rec = gate.records.filter((r) => r.type === 'decision').at(-1) as Record<string, any>
  t.match(rec, { stage: 'credential', status: 503 })
})

t.test('the secret test: no secret or token anywhere the agent, logs, records or metrics can see', async (t) => {
  const metricsText = await (await fetch(`${gate.adminUrl}/metrics`)).text()
  const haystack = [agentBytes.join('\n'), JSON.stringify(gate.records), JSON.stringify(svcRecords), gate.logs.join('\n'), logs.join('\n'), metricsText].join('\n')
  const needles = [idp.secrets.basic, ...idp.issuedTokens]
  t.ok(idp.issuedTokens.length >= 2, 'tokens were issued (the grep has something to find)')
  for (const n of needles) t.notOk(haystack.includes(n), `${n.slice(0, 8)}… appears nowhere`)
  t.match(metricsText, /toolgate_credential_fetches_total\{provider="idp",result="success"\}/)
})
