// Signed bundles, made by the real `opa build --signing-key` at test time, verified by the engine
// exactly as OPA verifies them; unsigned, tampered, re-keyed, out-of-scope bundles are refused.

import t from 'tap'
import type { Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import type { BundleSigning } from '../../proxy/src/decide/policy/engine.ts'
import { createLogger, silentLogger } from '../../proxy/src/record/log.ts'
import { baseInput, buildBundle, repack, tempDir, unpack } from './helpers.ts'

const REGO = `package fixture

decision := {"allow": input.tool.name == data.fixture.allowed_tool, "reasons": ["fixture"]}
`
const DATA = { allowed_tool: 'github', limits: { max: 1.5, list: [1, 2, 3] }, 'ünï': 'cödé <&>' }

function keyPair(type: 'rsa' | 'ec'): { priv: string; pub: string } {
  const { privateKey, publicKey } = type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    pub: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  }
}

const rsa = keyPair('rsa')
const otherRsa = keyPair('rsa')
const ec = keyPair('ec')

async function load(t: Test, dir: string, bundle: Buffer, signing: BundleSigning | undefined): Promise<PolicyEngine> {
  const path = join(dir, `b-${Math.random().toString(36).slice(2)}.tar.gz`)
  writeFileSync(path, bundle)
  const engine = await PolicyEngine.start({
    source: { kind: 'file', path }, entrypoint: 'fixture/decision', registry: new Registry(), logger: silentLogger,
    poll: { minDelayMs: 60_000, maxDelayMs: 60_000 }, ...(signing ? { signing } : {}),
  })
  t.teardown(() => engine.close())
  return engine
}

/** Extra JWT claims for opa build --claims-file (the signature scope is set this way). */
function claims(dir: string, value: Record<string, unknown>): string {
  const f = join(dir, `claims-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(f, JSON.stringify(value))
  return f
}

function signed(dir: string, opts: { alg?: string; key?: string; scope?: string } = {}): Buffer {
  const keyFile = join(dir, `key-${Math.random().toString(36).slice(2)}.pem`)
  writeFileSync(keyFile, opts.key ?? rsa.priv)
  return buildBundle(dir, {
    files: { 'fixture/policy.rego': REGO, 'fixture/data.json': DATA },
    manifest: { revision: 'signed-1', roots: ['fixture'], metadata: { team: 'platform' } },
    signingKey: keyFile,
    signingAlg: opts.alg ?? 'RS256',
    ...(opts.scope !== undefined ? { claimsFile: claims(dir, { scope: opts.scope }) } : {}),
  })
}

t.test('valid signatures are accepted (RS256, ES256, HS256)', async (t) => {
  const dir = tempDir(t)
  const cases: Array<[string, Buffer, BundleSigning]> = [
    ['RS256', signed(dir), { publicKeyPem: rsa.pub }],
    ['ES256', signed(dir, { alg: 'ES256', key: ec.priv }), { publicKeyPem: ec.pub, algorithm: 'ES256' }],
    ['HS256', signed(dir, { alg: 'HS256', key: 'a-shared-secret-of-enough-length!' }), { publicKeyPem: 'a-shared-secret-of-enough-length!', algorithm: 'HS256' }],
    ['RS256 with the key id OPA writes', signed(dir), { publicKeyPem: rsa.pub, keyId: 'default' }],
    ['RS256 with scope', signed(dir, { scope: 'prod' }), { publicKeyPem: rsa.pub, scope: 'prod' }],
  ]
  for (const [name, bundle, signing] of cases) {
    const engine = await load(t, dir, bundle, signing)
    t.same(engine.readiness(), { ready: true, reason: null }, `${name}: verified and loaded`)
    const d = engine.evaluate(baseInput())
    t.equal(d.ok && d.result.allow, true, `${name}: data from the signed bundle is used`)
  }
})

t.test('structured files are hashed canonically: reformatting data.json keeps the signature valid', async (t) => {
  const dir = tempDir(t)
  const files = unpack(dir, signed(dir))
  const data = JSON.parse((files.get('data.json') as Buffer).toString('utf8'))
  // Same document, different bytes: pretty-printed, keys in another order.
  const reordered = Object.fromEntries(Object.entries(data as Record<string, unknown>).reverse())
  files.set('data.json', Buffer.from(JSON.stringify(reordered, null, 4)))
  const engine = await load(t, dir, await repack(dir, files), { publicKeyPem: rsa.pub })
  t.same(engine.readiness(), { ready: true, reason: null })
})

t.test('unsigned, tampered or wrongly signed bundles are refused', async (t) => {
  const dir = tempDir(t)
  const good = unpack(dir, signed(dir))
  const withFile = (name: string, bytes: Buffer | string) => repack(dir, new Map<string, Buffer | string>([...good, [name, bytes]]))
  const without = (name: string) => repack(dir, new Map([...good].filter(([k]) => k !== name)))
  const wasm = Buffer.from(good.get('policy.wasm') as Buffer)
  wasm[wasm.length - 1] = (wasm[wasm.length - 1] as number) ^ 0xff
  const sigOf = (b: Buffer) => unpack(dir, b).get('.signatures.json') as Buffer

  const cases: Array<[string, () => Promise<Buffer> | Buffer, BundleSigning, RegExp]> = [
    ['unsigned', () => without('.signatures.json'), { publicKeyPem: rsa.pub }, /not signed/],
    ['data changed', () => withFile('data.json', JSON.stringify({ fixture: { ...DATA, allowed_tool: 'evil' } })), { publicKeyPem: rsa.pub }, /^.*: data\.json: digest mismatch/],
    ['wasm changed', () => withFile('policy.wasm', wasm), { publicKeyPem: rsa.pub }, /policy\.wasm: digest mismatch/],
    ['manifest changed', () => withFile('.manifest', JSON.stringify({ revision: 'forged', roots: ['fixture'] })), { publicKeyPem: rsa.pub }, /\.manifest: digest mismatch/],
    ['file added', () => withFile('fixture/extra.rego', 'package fixture\n'), { publicKeyPem: rsa.pub }, /fixture\/extra\.rego is not included/],
    ['file removed', () => without('fixture/policy.rego'), { publicKeyPem: rsa.pub }, /specified in the bundle signature but not found/],
    ['signature from another bundle', () => withFile('.signatures.json', sigOf(signed(dir, { scope: 'x' }))), { publicKeyPem: rsa.pub }, /scope mismatch/],
    ['wrong key', () => signed(dir, { key: otherRsa.priv }), { publicKeyPem: rsa.pub }, /failed to verify/],
    ['algorithm other than configured', () => signed(dir), { publicKeyPem: rsa.pub, algorithm: 'PS256' }, /failed to verify/],
    ['other key id', () => signed(dir), { publicKeyPem: rsa.pub, keyId: 'prod-2026' }, /signed with key id "default", not the configured "prod-2026"/],
    ['scope missing', () => signed(dir), { publicKeyPem: rsa.pub, scope: 'prod' }, /scope mismatch/],
    ['unexpected scope', () => signed(dir, { scope: 'dev' }), { publicKeyPem: rsa.pub }, /scope mismatch/],
    ['two signatures', () => withFile('.signatures.json', JSON.stringify({ signatures: ['a.b.c', 'd.e.f'] })), { publicKeyPem: rsa.pub }, /multiple JWTs/],
    ['garbage signature', () => withFile('.signatures.json', JSON.stringify({ signatures: ['nope'] })), { publicKeyPem: rsa.pub }, /not a compact JWS/],
    ['unreadable key', () => signed(dir), { publicKeyPem: 'not a pem' }, /verification key cannot be read/],
  ]
  for (const [name, make, signing, why] of cases) {
    const engine = await load(t, dir, await make(), signing)
    const r = engine.readiness()
    t.equal(r.ready, false, `${name}: refused`)
    t.match(r.reason, why, `${name}: ${r.reason}`)
    t.equal(engine.evaluate(baseInput()).ok, false, `${name}: calls denied`)
  }
})

t.test('without signing configured, a signed bundle still loads (signature not required)', async (t) => {
  const dir = tempDir(t)
  const engine = await load(t, dir, signed(dir), undefined)
  t.equal(engine.readiness().ready, true)
})

t.test('an HMAC secret never appears in logs, reasons or metrics', async (t) => {
  const dir = tempDir(t)
  const signingSecret = 'hmac-signing-secret-0123456789abcdef'
  const configuredSecret = 'hmac-configured-secret-fedcba9876543210'
  const path = join(dir, 'hs.tar.gz')
  writeFileSync(path, signed(dir, { alg: 'HS256', key: signingSecret }))
  const logs: string[] = []
  const registry = new Registry()
  const engine = await PolicyEngine.start({
    source: { kind: 'file', path }, entrypoint: 'fixture/decision', registry,
    logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    signing: { publicKeyPem: configuredSecret, algorithm: 'HS256' }, poll: { minDelayMs: 60_000, maxDelayMs: 60_000 },
  })
  t.teardown(() => engine.close())
  t.equal(engine.readiness().ready, false, 'wrong secret refused')
  const d = engine.evaluate(baseInput())
  const everything = [...logs, engine.readiness().reason ?? '', JSON.stringify(d), await registry.metrics()].join('\n')
  t.ok(logs.length > 0, 'the failure was logged')
  t.notOk(everything.includes(signingSecret), 'signing secret absent')
  t.notOk(everything.includes(configuredSecret), 'configured secret absent')
})
