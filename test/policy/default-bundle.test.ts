// The committed embedded bundle (policy/default-bundle.tar.gz) is up to date with the Rego
// sources: its manifest carries the hash of policy/src that this test recomputes, and a fresh
// `opa build` of the sources yields the same policy.wasm, data and manifest (the build is
// deterministic). The engine loads it as the embedded source.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
// @ts-expect-error plain JS build script without type declarations
import { buildDefaultBundle, ROOTS, sourceHash } from '../../scripts/build-policy.js'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { repoRoot } from '../helpers/tools.ts'
import { baseInput, metricValue, tempDir, unpack } from './helpers.ts'

const committedPath = join(repoRoot, 'policy', 'default-bundle.tar.gz')

t.test('manifest records the hash of the current sources', async (t) => {
  const dir = tempDir(t)
  const files = unpack(dir, readFileSync(committedPath))
  const manifest = JSON.parse((files.get('.manifest') as Buffer).toString('utf8'))
  const hash = (sourceHash as () => string)()
  t.equal(manifest.metadata.source_sha256, hash, 'policy/src unchanged since the bundle was built (else: npm run policy:build)')
  t.equal(manifest.revision, `default-${hash.slice(0, 12)}`)
  t.same(manifest.roots, ROOTS)
  t.ok(manifest.wasm.some((w: { entrypoint: string }) => w.entrypoint === 'toolgate/decision'), 'entrypoint toolgate/decision compiled')
  t.notOk([...files.keys()].some((f) => f.endsWith('_test.rego')), 'Rego tests are not shipped')
})

t.test('a rebuild from the sources is identical', async (t) => {
  const dir = tempDir(t)
  const out = join(dir, 'rebuilt.tar.gz')
  ;(buildDefaultBundle as (target: string) => unknown)(out)
  const rebuilt = unpack(dir, readFileSync(out))
  const committed = unpack(dir, readFileSync(committedPath))
  t.same([...rebuilt.keys()].sort(), [...committed.keys()].sort(), 'same files')
  for (const [name, bytes] of rebuilt) t.ok(bytes.equals(committed.get(name) as Buffer), `${name} identical`)
})

t.test('the engine serves the embedded bundle', async (t) => {
  const registry = new Registry()
  const engine = await PolicyEngine.start({ source: { kind: 'embedded' }, entrypoint: 'toolgate/decision', registry, logger: silentLogger })
  t.teardown(() => engine.close())
  t.same(engine.readiness(), { ready: true, reason: null })
  t.match(engine.revision, /^default-[0-9a-f]{12}$/)
  const d = engine.evaluate(baseInput())
  t.same(d, { ok: true, result: { allow: true, reasons: ['read access without a task'], credential: { ttl_s: 900 } }, revision: engine.revision })
  t.equal(await metricValue(registry, 'toolgate_policy_revision_info', { revision: engine.revision as string }), 1, 'revision metric')
  t.equal(await metricValue(registry, 'toolgate_policy_bundle_loads_total', { source: 'embedded', result: 'success' }), 1, 'load counted')
  t.equal(await metricValue(registry, 'toolgate_policy_ready'), 1)
})
