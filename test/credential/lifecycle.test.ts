// Credential lifetime against the real oidc-provider: singleflight under hundreds of parallel
// calls, expiry and refresh, task end → drop + RFC 7009 revocation seen by the server
// (introspection answers active:false), IdP outage → 503 within the bound with retries counted,
// and the secret test over every record, log line, metric and error.

import t from 'tap'
import { startIdp, JWT_RESOURCE, OPAQUE_RESOURCE } from './idp.ts'
import { harness } from './setup.ts'

const idp = await startIdp()
t.teardown(() => idp.close())

const ccProvider = (extra: Record<string, unknown> = {}) => () => ({
  cc: { type: 'oauth2_client_credentials' as const, token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: 'cc.secret', ...extra },
})

t.test('hundreds of parallel obtain() for one key → exactly one token fetch', async (t) => {
  const h = harness(ccProvider())
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const before = idp.counts.token
  const results = await Promise.all(Array.from({ length: 500 }, () => h.obtain('api', { provider: 'cc', resource: JWT_RESOURCE, scopes: ['read'] })))
  t.equal(idp.counts.token - before, 1, 'the token endpoint saw one request')
  t.ok(results.every((r) => r.ok), 'every caller got the credential')
  const ids = new Set(results.map((r) => (r.ok ? r.credential.issuanceId : '')))
  t.equal(ids.size, 1, 'all served by one issuance')
  const issued = h.records.filter((r) => r.type === 'credential_issued')
  t.equal(issued.length, 1)
  t.equal(issued[0]!.decision_count, 500, 'the issuance record counts the decisions it served')
  const metrics = await h.registry.metrics()
  t.match(metrics, /toolgate_credential_fetches_total\{provider="cc",result="success"\} 1/)
  t.match(metrics, /toolgate_credential_cache_hits_total\{provider="cc"\} 499/)
})

t.test('expiry with skew, refresh before expiry, separate keys per task/tool/scope', async (t) => {
  // Injected clock: the IdP issues 60 s tokens; the broker's clock jumps instead of the test sleeping.
  let now = Date.now()
  const h = harness(ccProvider(), { now: () => now })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const tc = { provider: 'cc', resource: JWT_RESOURCE, scopes: ['read'] }
  const a = await h.obtain('api', tc)
  const b = await h.obtain('api', tc)
  if (!a.ok || !b.ok) throw new Error('obtain')
  t.equal(a.credential.issuanceId, b.credential.issuanceId, 'cached')
  const other = await h.obtain('api', { ...tc, scopes: ['write'] })
  t.not(other.ok && other.credential.issuanceId, a.credential.issuanceId, 'another scope is another entry')
  const task = h.tasks.create({ intent: 'x', tools: ['api'] })
  if (!task.ok) throw new Error('task')
  const withTask = await h.obtain('api', tc, { task: task.task })
  t.not(withTask.ok && withTask.credential.issuanceId, a.credential.issuanceId, 'another task is another entry')

  // 60 s lifetime: refresh starts from 48 s (80%), while the old token still serves.
  now += 50_000
  const issuedBefore = h.records.filter((r) => r.type === 'credential_issued').length
  const c = await h.obtain('api', tc)
  if (!c.ok) throw new Error('obtain')
  t.equal(c.credential.issuanceId, a.credential.issuanceId, 'still served from cache while the refresh runs')
  for (let i = 0; i < 300 && h.records.filter((r) => r.type === 'credential_issued').length === issuedBefore; i++) await new Promise((r) => setTimeout(r, 10))
  const d = await h.obtain('api', tc)
  if (!d.ok) throw new Error('obtain')
  t.not(d.credential.issuanceId, a.credential.issuanceId, 'refreshed before expiry')
  t.ok(d.credential.expiresAt > a.credential.expiresAt)
})

t.test('task end drops the task credentials and revokes them at the issuer (RFC 7009)', async (t) => {
  const h = harness(ccProvider())
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const created = h.tasks.create({ intent: 'summarise', tools: ['kv', 'api'], ttl_s: 600 })
  if (!created.ok) throw new Error('task')
  const task = created.task
  const opaque = await h.obtain('kv', { provider: 'cc', resource: OPAQUE_RESOURCE, scopes: ['read'] }, { task, decisionId: 'dec-a' })
  await h.obtain('kv', { provider: 'cc', resource: OPAQUE_RESOURCE, scopes: ['read'] }, { task, decisionId: 'dec-b' })
  const jwt = await h.obtain('api', { provider: 'cc', resource: JWT_RESOURCE, scopes: ['read'] }, { task, decisionId: 'dec-c' })
  if (!opaque.ok || !jwt.ok) throw new Error('obtain')
  t.ok(opaque.credential.expiresAt <= task.expiresAt, 'no credential outlives its task')
  const token = opaque.credential.value.slice('Bearer '.length)
  t.equal((await idp.introspect(token, 'cc-basic', idp.secrets.basic)).active, true, 'active before the task ends')

  const revocationsBefore = idp.counts.revocation
  const fetchesBefore = idp.counts.token
  t.ok(h.tasks.end(task.id, 'deleted'))
  await h.broker.revokeTask(task.id) // idempotent: waits for the revocation the event started
  t.ok(idp.counts.revocation - revocationsBefore >= 2, 'the revocation endpoint was called for each token')
  t.equal((await idp.introspect(token, 'cc-basic', idp.secrets.basic)).active, false, 'the issuer reports the token inactive')
  const revoked = h.records.filter((r) => r.type === 'credential_revoked')
  const opaqueRec = revoked.find((r) => r.issuance_id === opaque.credential.issuanceId)
  t.match(opaqueRec, { reason: 'task_deleted', result: 'revoked', task: task.id, tool: 'kv', decision_count: 2 })
  t.same(opaqueRec?.decision_ids, ['dec-a', 'dec-b'], 'revocation record names the decisions it served')
  t.match(revoked.find((r) => r.issuance_id === jwt.credential.issuanceId), { result: 'not_supported' }, 'JWTs the issuer cannot revoke are recorded as such')

  const after = await h.obtain('kv', { provider: 'cc', resource: OPAQUE_RESOURCE, scopes: ['read'] }, { task })
  t.match(after, { ok: false, status: 503, reason: /has ended/ }, 'an ended task gets nothing')
  t.equal(idp.counts.token, fetchesBefore, 'and nothing was fetched for it')
})

t.test('task TTL expiry revokes too', async (t) => {
  let now = Date.now()
  const h = harness(ccProvider())
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const { TaskRegistry } = await import('../../proxy/src/tasks/registry.ts')
  const reg = new TaskRegistry({ defaultTtlS: 5, maxTtlS: 10, maxTasks: 10, now: () => now })
  t.teardown(() => reg.close())
  reg.on('ended', (task, reason) => { void h.broker.revokeTask(task.id, reason === 'expired' ? 'task_expired' : 'task_deleted') })
  const created = reg.create({ intent: 'x', tools: ['kv'] })
  if (!created.ok) throw new Error('task')
  const got = await h.obtain('kv', { provider: 'cc', resource: OPAQUE_RESOURCE }, { task: created.task })
  if (!got.ok) throw new Error(got.reason)
  now += 6000
  t.equal(reg.get(created.task.id), undefined, 'expired task is gone')
  await h.broker.revokeTask(created.task.id, 'task_expired') // idempotent: waits for the revocation the expiry started
  t.match(h.records.find((r) => r.type === 'credential_revoked'), { reason: 'task_expired', result: 'revoked' })
  t.equal((await idp.introspect(got.credential.value.slice(7), 'cc-basic', idp.secrets.basic)).active, false)
})

t.test('IdP down or slow → 503 within the bound, retries with backoff, metrics count it', async (t) => {
  // The failure hold reads the broker's clock (injected): the test moves it past the hold.
  let clock = Date.now()
  const h = harness(ccProvider({ timeout_ms: 1000, max_attempts: 3 }), { failureHoldMs: 200, now: () => clock })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  t.teardown(() => { idp.mode = 'ok' })
  const tc = { provider: 'cc', resource: JWT_RESOURCE, scopes: ['write'] }

  idp.mode = 'fail500'
  const before = idp.counts.token
  let started = Date.now()
  const down = await h.obtain('api', tc)
  t.match(down, { ok: false, status: 503, reason: /answered 500 \(error=server_error\)/ })
  t.ok(Date.now() - started < 1500, `answered within the bound (${Date.now() - started} ms)`)
  t.equal(idp.counts.token - before, 3, 'three attempts')
  const held = await h.obtain('api', tc)
  t.notOk(held.ok, 'failure is held briefly rather than hammering the IdP')
  t.equal(idp.counts.token - before, 3)

  clock += 250 // past the failure hold
  idp.mode = 'hang'
  started = Date.now()
  const hung = await Promise.all(Array.from({ length: 50 }, () => h.obtain('api', tc)))
  const took = Date.now() - started
  t.ok(hung.every((r) => !r.ok && r.status === 503), 'every waiting call denied with 503')
  t.ok(took < 1500, `a hanging IdP is cut off at the bound (${took} ms)`)
  t.match(hung[0], { reason: /did not answer in time|did not answer within/ })

  clock += 250 // past the failure hold
  idp.mode = 'ok'
  const back = await h.obtain('api', tc)
  t.ok(back.ok, 'recovers when the IdP is back')
  const metrics = await h.registry.metrics()
  t.match(metrics, /toolgate_credential_fetches_total\{provider="cc",result="unavailable"\} 1/)
  t.match(metrics, /toolgate_credential_fetches_total\{provider="cc",result="timeout"\} 1/)
  t.match(metrics, /toolgate_credential_fetch_retries_total\{provider="cc"\} [2-9]/)
})

t.test('the secret test: no secret or token in any record, log line, metric or error', async (t) => {
  const h = harness(() => ({
    cc: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-post', client_secret_file: 'post.secret', client_auth: 'client_secret_post' },
    st: { type: 'static', secret_file: 'static.secret' },
    self: { type: 'jwt', issuer: 'https://toolgate' },
  }))
  const staticSecret = 'static-api-key-7f3a9c2e5b'
  h.file('post.secret', idp.secrets.post)
  h.file('static.secret', staticSecret)
  t.teardown(() => h.close())
  const errors: string[] = []
  const values: string[] = []
  const created = h.tasks.create({ intent: 'secret test', tools: ['a', 'b', 'c'] })
  if (!created.ok) throw new Error('task')
  for (const [tool, tc] of [['a', { provider: 'cc', resource: OPAQUE_RESOURCE }], ['b', { provider: 'st' }], ['c', { provider: 'self' }], ['a', { provider: 'cc', resource: JWT_RESOURCE }]] as const) {
    const r = await h.obtain(tool, tc, { task: created.task })
    if (r.ok) values.push(r.credential.value)
    else errors.push(r.reason)
  }
  idp.mode = 'fail500'
  const failed = await h.obtain('a', { provider: 'cc', resource: JWT_RESOURCE, scopes: ['write'] }, { task: created.task })
  idp.mode = 'ok'
  if (!failed.ok) errors.push(failed.reason)
  h.file('static.secret', 'x\ny')
  h.tasks.end(created.task.id, 'deleted')
  await h.broker.revokeTask(created.task.id)
  t.equal(values.length, 4, 'all credentials obtained')
  t.equal(errors.length, 1, 'one failure, to check its message too')
  const haystack = [JSON.stringify(h.records), h.logs.join('\n'), await h.registry.metrics(), errors.join('\n')].join('\n')
  const needles = [idp.secrets.post, idp.secrets.basic, staticSecret, ...values.map((v) => v.replace(/^Bearer /, '')), ...idp.issuedTokens]
  t.ok(needles.length >= 6)
  for (const n of needles) t.notOk(haystack.includes(n), `secret ${n.slice(0, 6)}… appears nowhere`)
  t.ok(h.records.some((r) => r.type === 'credential_issued') && h.records.some((r) => r.type === 'credential_revoked'), 'records were written (the grep looked at something)')
})
