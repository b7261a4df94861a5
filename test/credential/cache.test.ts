// The credential cache (lru-cache) and lifecycle against the real oidc-provider IdP: eviction
// revokes (dispose), one fetch per key under concurrency, refresh with an injected clock (the
// replaced issuance keeps serving and is revoked with the entry), expiry replaced by a blocking
// fetch, task end during a refresh and during a first fetch (lru-cache disposes nothing under a
// fetch it aborts: the cache must retire those itself), private_key_jwt token + RFC 7009
// revocation. Every revocation is checked at the issuer by introspection.

import t from 'tap'
import { generateKeyPair, exportPKCS8 } from 'jose'
import { startIdp, OPAQUE_RESOURCE } from './idp.ts'
import { harness, type Harness } from './setup.ts'

const idp = await startIdp()
t.teardown(() => idp.close())

const cc = () => ({
  cc: { type: 'oauth2_client_credentials' as const, token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: 'cc.secret' },
})
const opaque = { provider: 'cc', resource: OPAQUE_RESOURCE, scopes: ['read'] }

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
const active = async (value: string): Promise<boolean> => (await idp.introspect(value.slice('Bearer '.length), 'cc-basic', idp.secrets.basic)).active === true
const revokedRecords = (h: Harness) => h.records.filter((r) => r.type === 'credential_revoked')
function must<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`obtain failed: ${(r as unknown as { reason: string }).reason}`)
  return r as Extract<T, { ok: true }>
}

t.test('LRU eviction revokes the evicted credential at the issuer (dispose)', async (t) => {
  const h = harness(cc, { maxEntries: 2 })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const a = must(await h.obtain('a', opaque))
  const b = must(await h.obtain('b', opaque))
  t.equal(revokedRecords(h).length, 0, 'nothing evicted within the bound')
  const c = must(await h.obtain('c', opaque))
  await until('the eviction record', () => revokedRecords(h).length === 1)
  t.match(revokedRecords(h)[0], { reason: 'evicted', result: 'revoked', tool: 'a', issuance_id: a.credential.issuanceId })
  t.equal(await active(a.credential.value), false, 'the evicted token is inactive at the issuer')
  t.equal(await active(b.credential.value), true, 'the others are not touched')
  t.equal(await active(c.credential.value), true)
  const before = idp.counts.token
  const again = must(await h.obtain('a', opaque))
  t.not(again.credential.issuanceId, a.credential.issuanceId, 'an evicted key is fetched again')
  t.equal(idp.counts.token - before, 1)
  t.match(await h.registry.metrics(), /toolgate_credential_cache_entries 2\b/, 'the gauge reads the bound')
})

t.test('concurrent obtains share one fetch per key, across keys and tasks', async (t) => {
  const h = harness(cc)
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const created = h.tasks.create({ intent: 'x', tools: ['a', 'b'] })
  if (!created.ok) throw new Error('task')
  const before = idp.counts.token
  const shapes = [['a', null], ['b', null], ['a', created.task]] as const
  const results = await Promise.all(shapes.flatMap(([tool, task]) => Array.from({ length: 100 }, () => h.obtain(tool, opaque, { task }))))
  t.equal(idp.counts.token - before, 3, 'three keys, three token requests')
  t.ok(results.every((r) => r.ok))
  const ids = results.map((r) => (r.ok ? r.credential.issuanceId : ''))
  for (let k = 0; k < 3; k++) t.equal(new Set(ids.slice(k * 100, k * 100 + 100)).size, 1, `key ${k}: one issuance for its 100 callers`)
  t.equal(new Set(ids).size, 3)
  const issued = h.records.filter((r) => r.type === 'credential_issued')
  t.same(issued.map((r) => r.decision_count), [100, 100, 100], 'each issuance record counts the decisions that waited for it')
})

t.test('refresh (injected clock): the old issuance serves until the new one lands, and task end revokes both', async (t) => {
  let now = Date.now()
  const h = harness(cc, { now: () => now })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const created = h.tasks.create({ intent: 'refresh', tools: ['kv'], ttl_s: 600 })
  if (!created.ok) throw new Error('task')
  const task = created.task
  const a = must(await h.obtain('kv', opaque, { task }))
  now += 50_000 // 83% of the IdP's 60 s lifetime: refresh due, still usable
  const before = idp.counts.token
  const during = must(await h.obtain('kv', opaque, { task }))
  t.equal(during.credential.issuanceId, a.credential.issuanceId, 'the call that starts the refresh is served the current issuance')
  await until('the refresh', () => h.records.filter((r) => r.type === 'credential_issued').length === 2)
  t.equal(idp.counts.token - before, 1, 'one background fetch')
  const b = must(await h.obtain('kv', opaque, { task }))
  t.not(b.credential.issuanceId, a.credential.issuanceId, 'the refreshed issuance serves next')
  t.equal(await active(a.credential.value), true, 'the replaced token is not revoked while calls may still use it')
  t.equal(revokedRecords(h).length, 0)

  h.tasks.end(task.id, 'deleted')
  await h.broker.revokeTask(task.id)
  const revoked = revokedRecords(h)
  t.same(revoked.map((r) => r.issuance_id).sort(), [a.credential.issuanceId, b.credential.issuanceId].sort(), 'both issuances revoked with the entry')
  t.ok(revoked.every((r) => r.reason === 'task_deleted' && r.result === 'revoked'))
  t.same(revoked.find((r) => r.issuance_id === a.credential.issuanceId)?.decision_count, 2, 'each issuance counts the decisions it served')
  t.equal(await active(a.credential.value), false)
  t.equal(await active(b.credential.value), false)
})

t.test('an entry past expiry − skew is replaced by a blocking fetch; the old token is revoked as replaced', async (t) => {
  let now = Date.now()
  const h = harness(cc, { now: () => now })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const a = must(await h.obtain('kv', opaque))
  now += 55_000 // past 60 s − 6 s skew, but the issuer still accepts it
  const b = must(await h.obtain('kv', opaque))
  t.not(b.credential.issuanceId, a.credential.issuanceId, 'not served past expiry − skew')
  await until('the replaced record', () => revokedRecords(h).length === 1)
  t.match(revokedRecords(h)[0], { issuance_id: a.credential.issuanceId, reason: 'replaced', result: 'revoked' })
  t.equal(await active(a.credential.value), false)
  t.equal(await active(b.credential.value), true)
})

t.test('task end during a background refresh revokes the issuance it was serving', async (t) => {
  let now = Date.now()
  const h = harness(cc, { now: () => now })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  t.teardown(() => { idp.mode = 'ok' })
  const created = h.tasks.create({ intent: 'x', tools: ['kv'] })
  if (!created.ok) throw new Error('task')
  const task = created.task
  const a = must(await h.obtain('kv', opaque, { task }))
  now += 50_000
  idp.mode = 'hang'
  const before = idp.counts.token
  must(await h.obtain('kv', opaque, { task })) // starts the refresh, which hangs at the IdP
  await until('the refresh request', () => idp.counts.token > before)
  idp.mode = 'ok'
  h.tasks.end(task.id, 'deleted')
  await h.broker.revokeTask(task.id)
  t.match(revokedRecords(h), [{ issuance_id: a.credential.issuanceId, reason: 'task_deleted', result: 'revoked' }], 'the served issuance was revoked')
  t.equal(await active(a.credential.value), false, 'and the issuer agrees')
  t.match(await h.obtain('kv', opaque, { task }), { ok: false, reason: /has ended/ })
  t.equal(h.records.filter((r) => r.type === 'credential_issued').length, 1, 'the aborted refresh issued nothing')
})

t.test('task end during the first fetch: the waiting call gets 503 at once and nothing is cached', async (t) => {
  const h = harness(cc)
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  t.teardown(() => { idp.mode = 'ok' })
  const created = h.tasks.create({ intent: 'x', tools: ['kv'] })
  if (!created.ok) throw new Error('task')
  idp.mode = 'hang'
  const before = idp.counts.token
  const started = Date.now()
  const pending = h.obtain('kv', opaque, { task: created.task })
  await until('the token request', () => idp.counts.token > before)
  idp.mode = 'ok'
  h.tasks.end(created.task.id, 'deleted')
  const got = await pending
  t.match(got, { ok: false, status: 503, reason: /has ended/ })
  t.ok(Date.now() - started < 2000, `answered when the task ended, not at the 5 s provider timeout (${Date.now() - started} ms)`)
  t.equal(h.records.filter((r) => r.type === 'credential_issued').length, 0)
  t.match(await h.registry.metrics(), /toolgate_credential_cache_entries 0\b/)
})

t.test('private_key_jwt (oauth4webapi assertion): token and RFC 7009 revocation at the real IdP; a wrong key is refused', async (t) => {
  const other = await generateKeyPair('ES256', { extractable: true })
  const h = harness(() => ({
    pk: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-pkjwt', private_key_file: 'client.pem', key_id: 'client-1' },
    wrong: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, client_id: 'cc-pkjwt', private_key_file: 'other.pem', key_id: 'client-1' },
  }))
  h.file('client.pem', idp.clientKeyPem)
  h.file('other.pem', await exportPKCS8(other.privateKey))
  t.teardown(() => h.close())
  const created = h.tasks.create({ intent: 'x', tools: ['kv'] })
  if (!created.ok) throw new Error('task')
  const got = must(await h.obtain('kv', { provider: 'pk', resource: OPAQUE_RESOURCE, scopes: ['read'] }, { task: created.task }))
  t.equal(await active(got.credential.value), true, 'token issued to the private_key_jwt client')
  h.tasks.end(created.task.id, 'deleted')
  await h.broker.revokeTask(created.task.id)
  t.match(revokedRecords(h), [{ issuance_id: got.credential.issuanceId, result: 'revoked', reason: 'task_deleted' }], 'revocation authenticated with a private_key_jwt assertion was accepted')
  t.equal(await active(got.credential.value), false)
  const wrong = await h.obtain('kv', { provider: 'wrong', resource: OPAQUE_RESOURCE })
  t.match(wrong, { ok: false, status: 503, reason: /refused the token request: 401/ }, 'an assertion signed with another key is refused')
})

t.test('reload: a changed or removed provider revokes its entries, an unchanged one keeps them; shutdown revokes the rest', async (t) => {
  const providers = (dir: string, attempts: number) => ({
    keep: { type: 'oauth2_client_credentials' as const, token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: `${dir}/cc.secret` },
    change: { type: 'oauth2_client_credentials' as const, token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: `${dir}/cc.secret`, max_attempts: attempts },
    drop: { type: 'oauth2_client_credentials' as const, token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: `${dir}/cc.secret` },
  })
  const h = harness((dir) => providers(dir, 3))
  h.file('cc.secret', idp.secrets.basic)
  let closed = false
  t.teardown(() => (closed ? undefined : h.close()))
  const got = Object.fromEntries(await Promise.all(['keep', 'change', 'drop'].map(async (p) => [p, must(await h.obtain('kv', { provider: p, resource: OPAQUE_RESOURCE }))] as const)))
  const { drop: _drop, ...rest } = providers(h.dir, 5)
  h.broker.update(rest, h.dir)
  await until('the reload revocations', () => revokedRecords(h).length === 2)
  t.same(revokedRecords(h).map((r) => [r.provider, r.reason, r.result]).sort(), [['change', 'config_reload', 'revoked'], ['drop', 'config_reload', 'revoked']])
  t.equal(await active(got.change!.credential.value), false)
  t.equal(await active(got.drop!.credential.value), false)
  t.equal(await active(got.keep!.credential.value), true, 'the unchanged provider kept its token')
  const again = must(await h.obtain('kv', { provider: 'keep', resource: OPAQUE_RESOURCE }))
  t.equal(again.credential.issuanceId, got.keep!.credential.issuanceId, 'and serves it from the cache')
  t.match(await h.obtain('kv', { provider: 'drop', resource: OPAQUE_RESOURCE }), { ok: false, reason: /"drop" is not configured/ })

  closed = true
  await h.close()
  t.match(revokedRecords(h).find((r) => r.provider === 'keep'), { reason: 'shutdown', result: 'revoked' })
  t.equal(await active(got.keep!.credential.value), false, 'shutdown revoked what was still cached')
  t.equal(h.records.filter((r) => r.type === 'credential_issued').length, revokedRecords(h).length, 'every issuance has exactly one closing record')
})

t.test('a failed refresh keeps the old issuance serving and is not retried by every call', async (t) => {
  let now = Date.now()
  const h = harness(() => ({
    cc: { type: 'oauth2_client_credentials', token_url: idp.tokenUrl, revocation_url: idp.revocationUrl, client_id: 'cc-basic', client_secret_file: 'cc.secret', max_attempts: 1 },
  }), { now: () => now, failureHoldMs: 1000 })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  t.teardown(() => { idp.mode = 'ok' })
  const a = must(await h.obtain('kv', opaque))
  now += 50_000
  idp.mode = 'fail500'
  const before = idp.counts.token
  must(await h.obtain('kv', opaque))
  await until('the failed refresh', () => /result="unavailable"\} 1/.test(h.logs.join('\n')) || idp.counts.token > before)
  await new Promise((r) => setTimeout(r, 50))
  const served: Awaited<ReturnType<typeof h.obtain>>[] = []
  for (let i = 0; i < 10; i++) {
    served.push(await h.obtain('kv', opaque))
    await new Promise((r) => setTimeout(r, 20)) // time for a refresh, had one been started, to reach the IdP
  }
  t.ok(served.every((r) => r.ok && r.credential.issuanceId === a.credential.issuanceId), 'the old issuance keeps serving')
  t.equal(idp.counts.token - before, 1, 'one refresh attempt within the failure hold')
  idp.mode = 'ok'
  now += 1001
  must(await h.obtain('kv', opaque))
  await until('the next refresh', () => h.records.filter((r) => r.type === 'credential_issued').length === 2)
  const b = must(await h.obtain('kv', opaque))
  t.not(b.credential.issuanceId, a.credential.issuanceId, 'refreshed once the hold is over')
})

t.test('fetches beyond the bound: every waiting call is served, the cache keeps its bound, the overflow is revoked', async (t) => {
  const h = harness(cc, { maxEntries: 2 })
  h.file('cc.secret', idp.secrets.basic)
  t.teardown(() => h.close())
  const before = idp.counts.token
  const got = await Promise.all(['a', 'b', 'c', 'a', 'b', 'c'].map((tool) => h.obtain(tool, opaque)))
  t.ok(got.every((r) => r.ok), 'no call fails because its fetch was evicted while under way')
  t.equal(idp.counts.token - before, 3, 'one fetch per key')
  await until('the overflow revocation', () => revokedRecords(h).length === 1)
  t.match(revokedRecords(h)[0], { reason: 'evicted', result: 'revoked' })
  t.match(await h.registry.metrics(), /toolgate_credential_cache_entries 2\b/)
  const cachedTools = ['a', 'b', 'c'].filter((tool) => !revokedRecords(h).some((r) => r.tool === tool))
  t.equal(cachedTools.length, 2)
  const before2 = idp.counts.token
  for (const tool of cachedTools) must(await h.obtain(tool, opaque))
  t.equal(idp.counts.token, before2, 'the two that stayed are served from the cache')
})
