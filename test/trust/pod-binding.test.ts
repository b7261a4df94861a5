// A grant for one pod is refused in another, even when both run as the same ServiceAccount (the
// replicas of a Deployment, the pods of a parallel Job: sub is system:serviceaccount:<ns>:<sa>
// for all of them). docs said "a grant for another pod ... is refused", but sub names the
// ServiceAccount, so pod B's sidecar opened its own task from pod A's grant: the grant's budget
// counted twice, and the issuer ending the task in pod A (DELETE on A's control listener) left it
// running in pod B until exp. A grant may now name its pod (tctx.pod); a sidecar whose pod is
// another refuses it. Real toolgate, real JWKS issuer.
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { grantClaims, startIssuer } from './issuer.ts'

const AUD = 'toolgate://prod.example'
const ME = 'system:serviceaccount:agents:research'
const upstream = await startUpstream()
const orch = await startIssuer('orchestrator')
t.teardown(async () => { await upstream.close(); await orch.close() })

const config = (pod: string | null) => `version: 1
${testListeners}
agent: { namespace: agents, service_account: research${pod === null ? '' : `, pod: ${pod}`} }
tasks:
  audience: ${AUD}
  issuers:
    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}" }
tools:
  - name: api
    match: { scheme: http, host: 127.0.0.1, port: ${upstream.port} }
    routes:
      - { methods: [POST], path: "/write", access: write }
`
const podA = await startTestToolgate(config('research-0'))
const podB = await startTestToolgate(config('research-1'))
const noPod = await startTestToolgate(config(null))
t.teardown(async () => { await podA.close(); await podB.close(); await noPod.close() })

async function write(gate: typeof podA, token: string): Promise<{ status: number; reason: string }> {
  const proxy = new ProxyAgent(gate.proxyUrl)
  try {
    const r = await request(`${upstream.url}/write`, { method: 'POST', headers: { 'txn-token': token, 'content-type': 'application/json' }, body: '{}', dispatcher: proxy })
    const text = await r.body.text()
    return { status: r.statusCode, reason: r.statusCode === 200 ? '' : (JSON.parse(text) as { error: { message: string } }).error.message }
  } finally {
    await proxy.close()
  }
}
const grantFor = (pod: string | undefined) => orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'], extra: { tctx: { intent: 'triage', tools: ['api'], ...(pod !== undefined ? { pod } : {}) } } }), { typ: 'txntoken+jwt' })

t.test('a grant naming pod research-0 works there and nowhere else', async (t) => {
  const token = await grantFor('research-0')
  t.equal((await write(podA, token)).status, 200, 'in its pod')
  const b = await write(podB, token)
  t.equal(b.status, 403, 'in another pod of the same ServiceAccount')
  t.match(b.reason, /tctx.pod "research-0" is another pod \(this agent is "research-1"\)/)
  const n = await write(noPod, token)
  t.equal(n.status, 403, 'in a sidecar that does not know its pod')
  t.match(n.reason, /does not know its pod/)
})

t.test('a grant without tctx.pod is bound to the workload identity only (as before)', async (t) => {
  const token = await grantFor(undefined)
  t.equal((await write(podA, token)).status, 200)
  t.equal((await write(podB, token)).status, 200)
})

t.test('tctx.pod must be a string', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['api'], extra: { tctx: { intent: 'triage', tools: ['api'], pod: ['research-0', 'research-1'] } } }), { typ: 'txntoken+jwt' })
  const r = await write(podA, token)
  t.equal(r.status, 403)
  t.match(r.reason, /tctx.pod must be a string/)
})
