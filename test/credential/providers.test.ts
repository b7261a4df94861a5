// Each provider against real parts: oidc-provider on loopback issues client-credentials and
// token-exchange tokens; a resource server validates what the broker injects (signature against
// the issuer's JWKS, issuer, audience, expiry). No mocks.

import t from 'tap'
import { decodeJwt } from 'jose'
import { startIdp, JWT_RESOURCE } from './idp.ts'
import { startVerifier, callVerifier } from './verifier.ts'
import { harness, agent } from './setup.ts'
import { injectCredential } from '../../proxy/src/credential/inject.ts'
import { handleJwks } from '../../proxy/src/admin/jwks.ts'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

const idp = await startIdp()
t.teardown(() => idp.close())
const verifier = await startVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: JWT_RESOURCE })
t.teardown(() => verifier.close())

const agentHeaders: [string, string][] = [['accept', 'application/json'], ['Authorization', 'Bearer agent-made-this-up'], ['Cookie', 'session=agent'], ['Proxy-Authorization', 'Basic eA==']]

async function useCredential(got: Awaited<ReturnType<ReturnType<typeof harness>['obtain']>>): Promise<{ status: number; body: Record<string, unknown> }> {
  if (!got.ok) throw new Error(`obtain failed: ${got.reason}`)
  return callVerifier(verifier.url, injectCredential(agentHeaders, got.credential))
}

t.test('oauth2_client_credentials with client_secret_basic, client_secret_post and private_key_jwt', async (t) => {
  const h = harness((dir) => ({
    basic: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, client_id: 'cc-basic', client_secret_file: 'basic.secret' },
    post: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, client_id: 'cc-post', client_secret_file: `${dir}/post.secret`, client_auth: 'client_secret_post' },
    pkjwt: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, client_id: 'cc-pkjwt', private_key_file: 'client.pem', key_id: 'client-1' },
  }))
  h.file('basic.secret', idp.secrets.basic + '\n')
  h.file('post.secret', idp.secrets.post)
  h.file('client.pem', idp.clientKeyPem)
  t.teardown(() => h.close())
  for (const provider of ['basic', 'post', 'pkjwt']) {
    const got = await h.obtain('api', { provider, resource: JWT_RESOURCE, scopes: ['read'] })
    t.ok(got.ok, `${provider}: obtained`)
    const res = await useCredential(got)
    t.equal(res.status, 200, `${provider}: upstream accepted the token`)
    t.equal(res.body.scope, 'read', `${provider}: scope as asked for the tool`)
    t.equal(res.body.sub, provider === 'basic' ? 'cc-basic' : provider === 'post' ? 'cc-post' : 'cc-pkjwt')
  }
  const issued = h.records.filter((r) => r.type === 'credential_issued')
  t.equal(issued.length, 3, 'one issuance record per provider')
  t.match(issued[0], { provider: 'basic', tool: 'api', task: null, scope: ['read'], resource: JWT_RESOURCE })
})

t.test('token_exchange: projected SA token as subject, re-read each exchange, actor → act', async (t) => {
  const h = harness(() => ({
    xchg: { type: 'token_exchange', token_url: idp.tokenUrl, client_id: 'exchanger', client_secret_file: 'x.secret', subject_token_file: 'sa/token', actor_token_file: 'actor.token', revocation_url: idp.revocationUrl },
  }))
  h.file('x.secret', idp.secrets.exchanger)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(`${h.dir}/sa`)
  h.file('sa/token', await idp.serviceAccountToken('system:serviceaccount:agents:researcher'))
  h.file('actor.token', await idp.serviceAccountToken('system:serviceaccount:agents:orchestrator'))
  t.teardown(() => h.close())
  const got = await h.obtain('api', { provider: 'xchg', resource: JWT_RESOURCE, scopes: ['read', 'write'] })
  const res = await useCredential(got)
  t.equal(res.status, 200, 'upstream accepted the exchanged token')
  t.equal(res.body.sub, 'system:serviceaccount:agents:researcher', 'subject is the workload')
  t.same(res.body.act, { sub: 'system:serviceaccount:agents:orchestrator' }, 'delegation chain in act')
  t.equal(res.body.scope, 'read write')

  // The kubelet rotates the projected token: the next exchange must send the new one.
  h.file('sa/token', await idp.serviceAccountToken('system:serviceaccount:agents:rotated'))
  const again = await h.obtain('api', { provider: 'xchg', resource: JWT_RESOURCE, scopes: ['read'] })
  const res2 = await useCredential(again)
  t.equal(res2.body.sub, 'system:serviceaccount:agents:rotated', 'rotated subject token was re-read')

  h.file('sa/token', 'not-a-jwt')
  const bad = await h.obtain('api', { provider: 'xchg', resource: JWT_RESOURCE, scopes: ['write'] })
  t.notOk(bad.ok, 'an invalid subject token is refused')
  if (!bad.ok) {
    t.equal(bad.status, 503)
    t.match(bad.reason, /refused the token request: 400 \(error=invalid_grant\)/)
  }
})

t.test('jwt provider: ES256, JWKS on the admin listener, claims, lifetime bounded by the task', async (t) => {
  const h = harness(() => ({ self: { type: 'jwt', issuer: 'https://toolgate.agents.svc', ttl_s: 600 } }))
  t.teardown(() => h.close())
  await h.broker.init()
  const admin = createServer((req, res) => {
    void handleJwks(req, res, new URL(req.url ?? '/', 'http://x'), { jwks: () => h.broker.jwks() }).then((handled) => { if (!handled) { res.writeHead(404); res.end() } })
  })
  admin.listen(0, '127.0.0.1')
  await once(admin, 'listening')
  t.teardown(() => new Promise<void>((r) => admin.close(() => r())))
  const jwksUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}/.well-known/jwks.json`
  const v = await startVerifier({ jwksUrl, issuer: 'https://toolgate.agents.svc', audience: 'https://search.internal' })
  t.teardown(() => v.close())

  const created = h.tasks.create({ intent: 'find papers', tools: ['search'], ttl_s: 120 })
  if (!created.ok) throw new Error('task')
  const task = created.task
  const got = await h.obtain('search', { provider: 'self', audience: 'https://search.internal', scopes: ['read'] }, { task, agent: { ...agent, spiffe_id: 'spiffe://cluster.local/ns/agents/sa/researcher' } })
  if (!got.ok) throw new Error(got.reason)
  const res = await callVerifier(v.url, injectCredential([], got.credential))
  t.equal(res.status, 200, 'verifier accepted the token against the JWKS')
  t.equal(res.body.sub, 'spiffe://cluster.local/ns/agents/sa/researcher')
  t.equal(res.body.task_id, task.id)
  t.equal(res.body.scope, 'read')
  const claims = decodeJwt(got.credential.value.slice('Bearer '.length))
  t.ok(claims.exp! * 1000 <= task.expiresAt, 'exp not past the task end (ttl_s 600 > task 120)')
  t.ok(got.credential.expiresAt <= task.expiresAt)

  const narrowed = await h.obtain('search', { provider: 'self', audience: 'https://search.internal', scopes: ['read', 'write'] }, { task, narrowing: { scope: ['write', 'admin'], ttl_s: 30, audience: 'https://other' } })
  if (!narrowed.ok) throw new Error(narrowed.reason)
  const nc = decodeJwt(narrowed.credential.value.slice(7))
  t.equal(nc.scope, 'write', 'policy narrowed scope (and could not add admin)')
  t.equal(nc.aud, 'https://other', 'policy set audience')
  t.ok(nc.exp! - nc.iat! <= 30, 'policy TTL bounds the lifetime')

  const none = await h.obtain('search', { provider: 'self', scopes: ['read'] }, { narrowing: { scope: ['admin'] } })
  t.notOk(none.ok, 'narrowing to nothing configured is refused')

  const jwks = (await (await fetch(jwksUrl)).json()) as { keys: { kid: string; d?: string }[] }
  t.equal(jwks.keys.length, 2, 'current and next key are published')
  t.notOk(jwks.keys.some((k) => 'd' in k), 'no private key material in the JWKS')
})

t.test('static provider: file secret, rotation without restart, custom header and template', async (t) => {
  let now = Date.now()
  const h = harness(() => ({ st: { type: 'static', secret_file: 'api.key' } }), { now: () => now })
  h.file('api.key', 'first-secret-value\n')
  t.teardown(() => h.close())
  const tc = { provider: 'st', header: 'X-Api-Key', template: '{token}' }
  const a = await h.obtain('kv', tc)
  if (!a.ok) throw new Error(a.reason)
  t.equal(a.credential.value, 'first-secret-value')
  t.same(injectCredential([['x-api-key', 'agent'], ['accept', '*/*']], a.credential), [['accept', '*/*'], ['X-Api-Key', 'first-secret-value']], 'agent header replaced')
  h.file('api.key', 'second-secret-value-longer') // another size: a changed stat whatever the mtime granularity
  now += 1001 // the file is stat'ed at most once a second (of the broker's clock)
  const b = await h.obtain('kv', tc)
  if (!b.ok) throw new Error(b.reason)
  t.equal(b.credential.value, 'second-secret-value-longer', 'rotated secret served without restart')
  t.not(b.credential.issuanceId, a.credential.issuanceId, 'rotation is a new issuance')

  h.file('api.key', 'bad\r\nX-Injected: 1')
  now += 1001
  const c = await h.obtain('kv', tc)
  t.notOk(c.ok, 'a secret with a line break is never put in a header')
})

t.test('injection removes agent-sent credentials whatever their case', async (t) => {
  const out = injectCredential([['AUTHORIZATION', 'x'], ['cookie', 'a=1'], ['proxy-authorization', 'y'], ['x-other', 'z']], { provider: 'p', issuanceId: 'i', expiresAt: 0, header: 'Authorization', value: 'Bearer real' })
  t.same(out, [['x-other', 'z'], ['Authorization', 'Bearer real']])
})

t.test('misconfigured and unknown providers answer 503 with a precise reason', async (t) => {
  const h = harness(() => ({ broken: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, client_id: 'x', client_auth: 'client_secret_post' }, nofile: { type: 'static', secret_file: 'missing' } }))
  t.teardown(() => h.close())
  const a = await h.obtain('api', { provider: 'broken' })
  t.match(a, { ok: false, status: 503, reason: /misconfigured: client_auth client_secret_post needs client_secret_file/ })
  const b = await h.obtain('api', { provider: 'nope' })
  t.match(b, { ok: false, status: 503, reason: /"nope" is not configured/ })
  const c = await h.obtain('api', { provider: 'nofile' })
  t.match(c, { ok: false, status: 503, reason: /cannot read secret file .*missing: ENOENT/ })
})
