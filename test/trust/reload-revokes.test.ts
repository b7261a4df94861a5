// Withdrawing trust on reload ends what that trust opened. An operator removes a task issuer from
// the config (its key leaked, the orchestrator is retired), or turns agent-declared tasks off, or
// the agent's workload identity changes; the reload stops new grants (the verified-grant cache is
// cleared) but the tasks those grants or the agent opened stayed open, and the agent, which had
// learned their ids (POST /v1/tasks with its grant answers with it), kept unlocking writes with
// `toolgate-task: <id>` and getting the tool's credential injected until the grant's exp.
// Real toolgate, real JWKS issuer, real upstream.
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { startTestToolgate, testConfig, testListeners } from '../helpers/toolgate.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { grantClaims, startIssuer } from './issuer.ts'
import { AUD, ME, agentYaml, apiSecret, apiToolYaml } from './fixture.ts'

const upstream = await startUpstream()
const orch = await startIssuer('orchestrator')
const other = await startIssuer('other')
t.teardown(async () => { await upstream.close(); await orch.close(); await other.close() })
const { credentialsYaml } = apiSecret('toolgate-reload-', 'static-secret')

const yaml = (o: { orchestrator: boolean; agentDeclared: boolean; sa?: string }) => `version: 1
${testListeners}
${agentYaml(o.sa)}
tasks:
  audience: ${AUD}
  agent_declared: ${o.agentDeclared}
  issuers:
${o.orchestrator ? `    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}" }\n` : ''}    - { name: other, issuer: "${other.issuer}", jwks_url: "${other.jwksUrl}" }
${credentialsYaml}${apiToolYaml(upstream.port, ['{ methods: [POST], path: "/write", access: write }', '{ methods: [GET], path: "/**" }'])}`
const gate = await startTestToolgate(yaml({ orchestrator: true, agentDeclared: true }))
t.teardown(() => gate.close())
const proxy = new ProxyAgent(gate.proxyUrl)
t.teardown(() => proxy.close())

async function write(taskId: string): Promise<number> {
  const r = await request(`${upstream.url}/write`, { method: 'POST', headers: { 'toolgate-task': taskId, 'content-type': 'application/json' }, body: '{}', dispatcher: proxy })
  await r.body.dump()
  return r.statusCode
}
async function read(taskId: string): Promise<number> {
  const r = await request(`${upstream.url}/read`, { headers: { 'toolgate-task': taskId }, dispatcher: proxy })
  await r.body.dump()
  return r.statusCode
}
async function register(issuer: typeof orch): Promise<string> {
  const token = await issuer.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'] }), { typ: 'txntoken+jwt' })
  const r = await fetch(`${gate.controlUrl}/v1/tasks`, { method: 'POST', headers: { 'txn-token': token } })
  return ((await r.json()) as { id: string }).id
}

t.test('removing an issuer ends its tasks; other issuers\' tasks stay', async (t) => {
  const id = await register(orch)
  const kept = await register(other)
  t.equal(await write(id), 200, 'the task unlocks writes while its issuer is trusted')
  await gate.tg.applyConfig(testConfig(yaml({ orchestrator: false, agentDeclared: true })))
  t.equal(await write(id), 403, 'after the issuer is removed, its task unlocks nothing')
  t.match(gate.records.find((r) => r.type === 'task_ended' && r.task === id), { reason: 'revoked' })
  t.equal(await write(kept), 200, 'a task of a still-trusted issuer is untouched')
  await gate.tg.applyConfig(testConfig(yaml({ orchestrator: true, agentDeclared: true })))
})

t.test('turning agent-declared tasks off ends them', async (t) => {
  const r = await fetch(`${gate.controlUrl}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ intent: 'x', tools: ['api'] }) })
  const id = ((await r.json()) as { id: string }).id
  t.equal(await read(id), 200)
  await gate.tg.applyConfig(testConfig(yaml({ orchestrator: true, agentDeclared: false })))
  t.equal(await read(id), 403, 'the agent-declared task is gone')
  await gate.tg.applyConfig(testConfig(yaml({ orchestrator: true, agentDeclared: true })))
})

t.test('a new workload identity ends the tasks granted to the old one', async (t) => {
  const id = await register(orch)
  t.equal(await write(id), 200)
  await gate.tg.applyConfig(testConfig(yaml({ orchestrator: true, agentDeclared: true, sa: 'other-sa' })))
  t.equal(await write(id), 403, 'a grant for system:serviceaccount:agents:research no longer names this agent')
})
