// policyEngineOptions(): the config's policy section (as resolved by config/) becomes engine
// options, including the signing key read from its file; an unreadable key fails closed with
// a reason that names the file.

import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { policyEngineOptions } from '../../proxy/src/decide/policy/options.ts'
import type { ResolvedConfig } from '../../proxy/src/config/resolved.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { baseInput, buildBundle, tempDir } from './helpers.ts'

const REGO = 'package toolgate\n\ndecision := {"allow": true, "reasons": [data.toolgate_config.greeting]}\n'

t.test('config policy section -> engine options (signed bundle, data, poll)', async (t) => {
  const dir = tempDir(t)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const priv = join(dir, 'priv.pem')
  const pub = join(dir, 'pub.pem')
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }))
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }))
  const bundle = join(dir, 'b.tar.gz')
  writeFileSync(bundle, buildBundle(dir, { files: { 'toolgate/p.rego': REGO }, entrypoints: ['toolgate/decision'], revision: 'cfg', signingKey: priv, signingAlg: 'ES256' }))
  const section: ResolvedConfig['policy'] = {
    bundle: { kind: 'file', path: bundle }, entrypoint: 'toolgate/decision',
    poll: { min_delay_ms: 60_000, max_delay_ms: 60_000 }, data: { greeting: 'hello' },
    signing: { public_key: pub, algorithm: 'ES256', key_id: 'default' },
  }
  const opts = policyEngineOptions(section, new Registry(), silentLogger)
  t.same(opts.poll, { minDelayMs: 60_000, maxDelayMs: 60_000 })
  const engine = await PolicyEngine.start(opts)
  t.teardown(() => engine.close())
  t.same(engine.readiness(), { ready: true, reason: null })
  const d = engine.evaluate(baseInput())
  t.same(d.ok && d.result.reasons, ['hello'], 'policy.data reached the policy')

  const missing = await PolicyEngine.start(policyEngineOptions({ ...section, signing: { public_key: join(dir, 'nope.pem'), algorithm: 'ES256' } }, new Registry(), silentLogger))
  t.teardown(() => missing.close())
  t.equal(missing.readiness().ready, false, 'unreadable key: fail closed')
  t.match(missing.readiness().reason, /verification key \(.*nope\.pem\) cannot be read \(ENOENT\)/)
})

t.test('HS256 secret file: the trailing newline is not part of the secret', async (t) => {
  const dir = tempDir(t)
  const secret = 'shared-secret-for-bundles-0123456789'
  const bundle = join(dir, 'b.tar.gz')
  writeFileSync(bundle, buildBundle(dir, { files: { 'toolgate/p.rego': REGO }, entrypoints: ['toolgate/decision'], signingKey: secret, signingAlg: 'HS256' }))
  const secretFile = join(dir, 'secret')
  writeFileSync(secretFile, `${secret}\n`)
  const engine = await PolicyEngine.start(policyEngineOptions({
    bundle: { kind: 'file', path: bundle }, entrypoint: 'toolgate/decision', poll: { min_delay_ms: 60_000, max_delay_ms: 60_000 }, data: { greeting: 'x' },
    signing: { public_key: secretFile, algorithm: 'HS256' },
  }, new Registry(), silentLogger))
  t.teardown(() => engine.close())
  t.same(engine.readiness(), { ready: true, reason: null })
})
