// Task grants (trust/grants.ts, trust/verify.ts) against a real JWKS server (test/trust/issuer.ts)
// over HTTP: a valid grant opens a task whose tools, lifetime and limits come from the grant;
// every forgery and mistake is refused with its own precise reason; key rotation is picked up by
// refetching the JWKS on an unknown kid; no mutation of a valid grant verifies (fast-check).

import t from 'tap'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { Registry } from 'prom-client'
import { TaskRegistry } from '../../proxy/src/tasks/registry.ts'
import { TaskGrants, type GrantIssuer } from '../../proxy/src/trust/grants.ts'
import { trustedIssuer } from '../../proxy/src/trust/verify.ts'
import { grantClaims, startIssuer } from './issuer.ts'

const AUD = 'toolgate://prod.example'
const ME = 'system:serviceaccount:agents:research'
const SPIFFE = 'spiffe://prod.example/ns/agents/sa/research'
const TYP = 'txntoken+jwt'

const orch = await startIssuer('orchestrator')
const other = await startIssuer('rogue')
t.teardown(async () => { await orch.close(); await other.close() })

const dir = mkdtempSync(join(tmpdir(), 'toolgate-grants-'))
writeFileSync(join(dir, 'ci.pem'), (await orch.unpublishedKey('ci-1')).spkiPem)

function setup(o: { maxTasks?: number; maxTtlS?: number; minRefreshS?: number } = {}) {
  const tasks = new TaskRegistry({ defaultTtlS: 60, maxTtlS: 300, maxTasks: 5, registry: new Registry() })
  const issuers: GrantIssuer[] = [{ ...trustedIssuer({ name: 'orchestrator', issuer: orch.issuer, jwks_url: orch.jwksUrl, jwks_min_refresh_s: o.minRefreshS ?? 0 }, dir), maxTasks: o.maxTasks ?? 10, maxTtlS: o.maxTtlS ?? 3600 }]
  const grants = new TaskGrants({
    issuers: () => issuers,
    audience: () => AUD,
    tasks,
    knownTools: () => new Set(['github', 'slack']),
    agent: () => ({ namespace: 'agents', service_account: 'research', pod: 'research-0', spiffe_id: SPIFFE, labels: {} }),
  })
  return { tasks, grants }
}

t.test('a valid grant opens a task: tools, lifetime, limits and requester from the grant', async (t) => {
  const { tasks, grants } = setup()
  t.teardown(() => tasks.close())
  const claims = grantClaims({ sub: ME, aud: AUD, tools: ['github', 'slack/post_message'], ttlS: 120, maxCalls: 7 })
  const token = await orch.sign(claims, { typ: TYP })
  const r = await grants.resolve(token)
  if (!r.ok) throw new Error(r.reason)
  t.equal(r.task.source, 'issuer')
  t.equal(r.task.issuer, 'orchestrator')
  t.same(r.task.declaredTools, ['github', 'slack/post_message'])
  t.equal(r.task.expiresAt, (claims.exp as number) * 1000)
  t.equal(r.task.maxCalls, 7)
  t.equal(r.task.requester, 'spiffe://cluster.local/ns/platform/sa/orchestrator')
  t.match(tasks.policyView(r.task), { source: 'issuer', issuer: 'orchestrator', limits: { max_calls: 7 } })
  // The same grant again names the same task; the SPIFFE ID is an identity of this agent too.
  const again = await grants.resolve(token)
  t.equal(again.ok && again.task.id, r.task.id)
  const bySpiffe = await grants.resolve(await orch.sign(grantClaims({ sub: SPIFFE, aud: AUD, tools: ['github'] }), { typ: TYP }))
  t.ok(bySpiffe.ok, 'sub = the SPIFFE ID is accepted')
  // Ended (deleted) → the same grant cannot reopen it.
  tasks.end(r.task.id, 'deleted')
  const reopened = await grants.resolve(token)
  t.notOk(reopened.ok)
  t.match(!reopened.ok && reopened.reason, /has ended; a new task needs a new grant/)
})

t.test('every forgery and mistake is refused with a precise reason', async (t) => {
  const { tasks, grants } = setup({ maxTtlS: 600 })
  t.teardown(() => tasks.close())
  const ok = (extra: Parameters<typeof grantClaims>[0]['extra'] = {}, o: Partial<Parameters<typeof grantClaims>[0]> = {}) => grantClaims({ sub: ME, aud: AUD, tools: ['github'], extra, ...o })
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const unpublished = await orch.unpublishedKey('orchestrator-1') // same kid, other key
  const strangerKid = await orch.unpublishedKey('never-published')
  const hsWithPublicKey = await new SignJWT({ ...ok() }).setProtectedHeader({ alg: 'HS256', typ: TYP, kid: orch.keys[0]!.kid }).setIssuer(orch.issuer).sign(Buffer.from(orch.keys[0]!.spkiPem))
  const cases: Array<[string, string | Promise<string>, RegExp]> = [
    ['alg none', `${b64({ alg: 'none', typ: TYP })}.${b64({ ...ok(), iss: orch.issuer })}.`, /alg "none" \(an unsigned token\) is never accepted/],
    ['HS256 signed with the public key (HS/RS confusion)', hsWithPublicKey, /alg "HS256" is not accepted \(only asymmetric signatures/],
    ['unknown issuer', other.sign(ok(), { typ: TYP }), /unknown issuer "http:\/\/127\.0\.0\.1:\d+\/rogue"/],
    ['no iss', orch.sign(ok(), { typ: TYP, iss: null }), /no iss claim/],
    ['bad signature (same kid, other key)', orch.sign(ok(), { typ: TYP, key: unpublished }), /bad signature \(issuer orchestrator\)/],
    ['unknown kid', orch.sign(ok(), { typ: TYP, key: strangerKid }), /issuer orchestrator has no key with kid "never-published"/],
    ['expired', orch.sign(ok({}, { iatOffsetS: -400, ttlS: 300 }), { typ: TYP }), /task grant refused: expired at 20\d\d-/],
    ['not yet valid', orch.sign(ok({ nbf: Math.floor(Date.now() / 1000) + 120 }), { typ: TYP }), /not valid before 20\d\d-/],
    ['another trust domain', orch.sign(grantClaims({ sub: ME, aud: 'toolgate://staging', tools: ['github'] }), { typ: TYP }), /audience "toolgate:\/\/staging" is not this trust domain/],
    ['another workload', orch.sign(grantClaims({ sub: 'system:serviceaccount:agents:other', aud: AUD, tools: ['github'] }), { typ: TYP }), /sub "system:serviceaccount:agents:other" is another workload/],
    ['not a txn token (plain JWT of the same issuer)', orch.sign(ok(), { typ: 'JWT' }), /header typ must be "txntoken\+jwt", got "JWT"/],
    ['missing txn', orch.sign(ok({ txn: undefined }), { typ: TYP }), /the txn claim is missing/],
    ['missing exp', orch.sign(ok({ exp: undefined }), { typ: TYP }), /the exp claim is missing/],
    ['missing tctx', orch.sign(ok({ tctx: undefined }), { typ: TYP }), /the tctx claim \(intent, tools\) is missing/],
    ['tool not in config', orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github', 'payroll'] }), { typ: TYP }), /tctx.tools names "payroll", which is not a tool in this config/],
    ['lifetime too long', orch.sign(ok({}, { ttlS: 601 }), { typ: TYP }), /lifetime 601 s \(exp - iat\) exceeds 600 s/],
    ['issued in the future', orch.sign(ok({}, { iatOffsetS: 3600, ttlS: 300 }), { typ: TYP }), /issued in the future \(iat 20\d\d-/],
    ['garbage', 'not.a.jwt!', /not a compact JWS/],
    ['oversized', 'a'.repeat(9000), /longer than 8192 characters/],
  ]
  for (const [name, token, reason] of cases) {
    const r = await grants.resolve(await token)
    t.notOk(r.ok, name)
    t.match(!r.ok && r.reason, reason, name)
  }
  t.equal(tasks.size, 0, 'no refused grant opened a task')
})

t.test('key rotation: a grant signed with a newly published kid verifies after one refetch', async (t) => {
  const { tasks, grants } = setup()
  t.teardown(() => tasks.close())
  const first = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP }))
  t.ok(first.ok)
  const fetches = orch.jwksFetches
  await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP }))
  t.equal(orch.jwksFetches, fetches, 'a known kid is served from the cache')
  const old = orch.keys[0]!
  await orch.rotate()
  const rotated = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP }))
  t.ok(rotated.ok, rotated.ok ? 'new kid accepted' : rotated.reason)
  t.equal(orch.jwksFetches, fetches + 1, 'the unknown kid made exactly one refetch')
  // The withdrawn key no longer verifies new grants once the cache has the new set.
  const withdrawn = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP, key: old }))
  t.notOk(withdrawn.ok)
  t.match(!withdrawn.ok && withdrawn.reason, /has no key with kid/)
})

t.test('an issuer\'s key set is built on its first use (jose loads lazily) and shared by calls racing it: one JWKS fetch', async (t) => {
  const issuer = trustedIssuer({ name: 'orchestrator', issuer: orch.issuer, jwks_url: orch.jwksUrl, jwks_min_refresh_s: 30 }, dir)
  const before = orch.jwksFetches
  const { verifyJwt } = await import('../../proxy/src/trust/verify.ts')
  const tokens = await Promise.all(Array.from({ length: 8 }, () => orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP })))
  t.equal(orch.jwksFetches, before, 'building the issuer fetched nothing')
  const results = await Promise.all(tokens.map((tok) => verifyJwt(tok, [issuer], { what: 'task grant', audience: AUD, typ: TYP })))
  t.same(results.map((r) => r.ok), tokens.map(() => true), 'all eight concurrent first verifications pass')
  t.equal(orch.jwksFetches, before + 1, 'one key set, one fetch, for all of them')
})

t.test('per-issuer quota: one issuer cannot exhaust the tasks of the sidecar', async (t) => {
  const { tasks, grants } = setup({ maxTasks: 2 })
  t.teardown(() => tasks.close())
  for (let i = 0; i < 2; i++) t.ok((await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP }))).ok)
  const third = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP }))
  t.match(!third.ok && third.reason, /issuer orchestrator has 2 open tasks already \(its quota/)
  // Agent-declared tasks have their own quota (tasks.max_tasks), untouched by the issuer's.
  t.ok(tasks.create({ intent: 'x', tools: ['github'] }).ok)
})

t.test('property: no single-character change to a valid grant verifies as another grant', async (t) => {
  const { tasks, grants } = setup()
  t.teardown(() => tasks.close())
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP })
  const good = await grants.resolve(token)
  t.ok(good.ok)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
  await fc.assert(fc.asyncProperty(fc.nat(token.length - 1), fc.constantFrom(...alphabet), async (i, ch) => {
    fc.pre(token[i] !== ch)
    const forged = token.slice(0, i) + ch + token.slice(i + 1)
    const r = await grants.resolve(forged)
    // Either refused, or (a base64url padding bit that decodes to the same bytes) the very same task.
    return !r.ok || (good.ok && r.task.id === good.task.id && Buffer.from(forged.split('.')[1] ?? '', 'base64url').equals(Buffer.from(token.split('.')[1]!, 'base64url')))
  }), { numRuns: 300 })
})

t.test('a mounted public key (PEM) works instead of a JWKS URL; private keys are refused', async (t) => {
  const key = await orch.unpublishedKey('ci-2')
  writeFileSync(join(dir, 'ci2.pem'), key.spkiPem)
  const tasks = new TaskRegistry({ defaultTtlS: 60, maxTtlS: 300, maxTasks: 5 })
  t.teardown(() => tasks.close())
  const issuers: GrantIssuer[] = [{ ...trustedIssuer({ name: 'ci', issuer: 'https://ci.example', public_key_file: 'ci2.pem' }, dir), maxTasks: 5, maxTtlS: 3600 }]
  const grants = new TaskGrants({ issuers: () => issuers, audience: () => AUD, tasks, knownTools: () => new Set(['github']), agent: () => ({ namespace: 'agents', service_account: 'research', pod: null, spiffe_id: null, labels: {} }) })
  const r = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP, key, iss: 'https://ci.example' }))
  t.ok(r.ok, r.ok ? 'verified with the mounted key' : r.reason)
  const wrong = await grants.resolve(await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['github'] }), { typ: TYP, iss: 'https://ci.example' }))
  t.match(!wrong.ok && wrong.reason, /bad signature/)
  writeFileSync(join(dir, 'priv.json'), JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }))
  t.throws(() => trustedIssuer({ name: 'x', issuer: 'x', public_key_file: 'priv.json' }, dir), /holds a private key/)
  writeFileSync(join(dir, 'oct.json'), JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }))
  t.throws(() => trustedIssuer({ name: 'x', issuer: 'x', public_key_file: 'oct.json' }, dir), /symmetric \(oct\) keys are not accepted/)
})

function mostly<T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: bad, weight: 1 })
}

t.test('property: a grant opens a task exactly when every condition holds (oracle over signed claim sets)', async (t) => {
  const { tasks, grants } = setup({ maxTtlS: 600, maxTasks: 1000 })
  t.teardown(() => tasks.close())
  const seen = { opened: 0, refused: 0 }
  await fc.assert(fc.asyncProperty(
    fc.record({
      // Mostly valid values, so that both outcomes are common (all valid ~ 20 %).
      sub: mostly(fc.constantFrom(ME, SPIFFE), fc.constantFrom('system:serviceaccount:agents:other', 'spiffe://prod.example/ns/x/sa/y')),
      aud: mostly(fc.constantFrom<string | string[]>(AUD, [AUD, 'other']), fc.constantFrom<string | string[]>('toolgate://staging', ['other'])),
      tools: mostly(fc.subarray(['github', 'slack', 'slack/post_message'], { minLength: 1 }), fc.constantFrom<string[]>([], ['payroll'], ['github', 'payroll'])),
      ttlS: mostly(fc.constantFrom(60, 600), fc.constantFrom(601, 5000)),
      iatOffsetS: mostly(fc.constant(0), fc.constantFrom(-700, 3600)),
      typ: mostly(fc.constantFrom(TYP, 'application/txntoken+jwt'), fc.constant('JWT')),
      signer: mostly(fc.constant('orch'), fc.constant('rogue')),
    }),
    async (g) => {
      const claims = grantClaims({ sub: g.sub, aud: g.aud as string, tools: g.tools as string[], ttlS: g.ttlS, iatOffsetS: g.iatOffsetS })
      const token = await (g.signer === 'orch' ? orch : other).sign(claims, { typ: g.typ })
      const r = await grants.resolve(token)
      const audOk = Array.isArray(g.aud) ? g.aud.includes(AUD) : g.aud === AUD
      const expected = g.signer === 'orch' && (g.sub === ME || g.sub === SPIFFE) && audOk && g.tools.length > 0 && !g.tools.includes('payroll') &&
        g.ttlS <= 600 && g.iatOffsetS === 0 && g.typ !== 'JWT'
      if (r.ok !== expected) throw new Error(`expected ${expected} for ${JSON.stringify(g)}: ${r.ok ? 'opened' : r.reason}`)
      if (r.ok && r.task.declaredTools.join() !== g.tools.join()) throw new Error('tools differ from the grant')
      seen[r.ok ? 'opened' : 'refused']++
      return true
    },
  ), { numRuns: 200 })
  t.ok(seen.opened > 0 && seen.refused > 0, `both outcomes exercised: ${JSON.stringify(seen)}`)
})

t.test('property: arbitrary tokens (random text, random JSON segments) are refused, never thrown', async (t) => {
  const { tasks, grants } = setup()
  t.teardown(() => tasks.close())
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v) ?? 'null').toString('base64url')
  const segmentsToken = fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string({ maxLength: 20 })).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`)
  const headerish = fc.record({ alg: fc.constantFrom('ES256', 'RS256', 'none', 'HS256', 'NONE', 'EdDSA', 42), typ: fc.constantFrom(TYP, 'JWT', undefined), kid: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }), crit: fc.option(fc.constant(['exp']), { nil: undefined }) })
  const claimish = fc.record({ iss: fc.constantFrom(orch.issuer, 'x', 7, undefined), exp: fc.oneof(fc.integer(), fc.constant('tomorrow')), aud: fc.constantFrom(AUD, [AUD], 1) })
  const structured = fc.tuple(headerish, claimish, fc.string({ maxLength: 40 })).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`)
  let refused = 0
  await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), segmentsToken, structured), async (token) => {
    const r = await grants.resolve(token)
    if (!r.ok) refused++
    return !r.ok && typeof r.reason === 'string' && r.reason.startsWith('task grant refused: ') && !r.reason.includes(token.length > 30 ? token : '\u0000')
  }), { numRuns: 400 })
  t.equal(refused, 400)
  t.equal(tasks.size, 0)
})
