// PolicyEngine with fixture bundles compiled at test time by the real OPA CLI: loading from a
// file, fail-closed behaviour for missing/corrupt/malformed bundles, manifest roots, wrong
// entrypoint, missing builtins, undefined and malformed results, evaluation errors, hot swap
// (file watch and reload) keeping the last good bundle, operator data, and metrics.

import t, { type Test } from 'tap'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import type { PolicyEngineOptions } from '../../proxy/src/decide/policy/engine.ts'
import { createLogger, silentLogger } from '../../proxy/src/record/log.ts'
import { baseInput, buildBundle, eventually, metricValue, repack, tempDir, unpack } from './helpers.ts'

const FIXTURE = `package fixture

default decision := {"allow": false, "reasons": ["default deny"]}

decision := {"allow": true, "reasons": [concat("", ["label ", data.fixture.label])], "credential": {"ttl_s": 60}} if input.tool.name == "ok"
`

function fixtureBundle(dir: string, label: string, extra: Partial<Parameters<typeof buildBundle>[1]> = {}): Buffer {
  return buildBundle(dir, {
    files: { 'fixture/policy.rego': FIXTURE, 'fixture/data.json': { label } },
    manifest: { revision: `rev-${label}`, roots: ['fixture'] },
    ...extra,
  })
}

async function start(t: Test, opts: Partial<PolicyEngineOptions> & Pick<PolicyEngineOptions, 'source'>): Promise<{ engine: PolicyEngine; registry: Registry; logs: string[] }> {
  const registry = new Registry()
  const logs: string[] = []
  const engine = await PolicyEngine.start({
    entrypoint: 'fixture/decision',
    registry,
    logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    poll: { minDelayMs: 60_000, maxDelayMs: 60_000 },
    ...opts,
  })
  t.teardown(() => engine.close())
  return { engine, registry, logs }
}

/** Writes atomically (temp file + rename), as a config management tool or kubelet would. */
function atomicWrite(path: string, bytes: Buffer): void {
  writeFileSync(`${path}.tmp`, bytes)
  renameSync(`${path}.tmp`, path)
}

const ok = baseInput({ tool: { ...baseInput().tool, name: 'ok' } })

t.test('loads a file bundle: revision, decision, metrics', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, fixtureBundle(dir, 'one'))
  const { engine, registry } = await start(t, { source: { kind: 'file', path } })
  t.same(engine.readiness(), { ready: true, reason: null })
  t.equal(engine.revision, 'rev-one')
  t.same(engine.evaluate(ok), { ok: true, result: { allow: true, reasons: ['label one'], credential: { ttl_s: 60 } }, revision: 'rev-one' })
  t.same(engine.evaluate(baseInput()), { ok: true, result: { allow: false, reasons: ['default deny'] }, revision: 'rev-one' })
  t.equal(await metricValue(registry, 'toolgate_policy_revision_info', { revision: 'rev-one' }), 1)
  t.equal(await metricValue(registry, 'toolgate_policy_bundle_loads_total', { source: 'file', result: 'success' }), 1)
})

t.test('no revision in the manifest: a content hash stands in', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, buildBundle(dir, { files: { 'fixture/policy.rego': FIXTURE, 'fixture/data.json': { label: 'x' } } }))
  const { engine } = await start(t, { source: { kind: 'file', path } })
  t.match(engine.revision, /^sha256:[0-9a-f]{16}$/)
})

t.test('fail closed: missing, corrupt and malformed bundles leave the engine unready', async (t) => {
  const dir = tempDir(t)
  const good = unpack(dir, fixtureBundle(dir, 'g'))
  const cases: Array<[string, () => Promise<Buffer | null>, RegExp]> = [
    ['missing file', async () => null, /cannot read bundle file .*ENOENT/],
    ['not gzip', async () => Buffer.from('hello'), /not a gzip-compressed tar/],
    ['truncated archive', async () => fixtureBundle(dir, 'g').subarray(0, 200), /cannot be decompressed: unexpected end of file/],
    ['manifest not JSON', async () => repack(dir, new Map<string, Buffer | string>([...good, ['.manifest', '{nope']])), /\.manifest is not valid JSON/],
    ['roots not a list', async () => repack(dir, new Map<string, Buffer | string>([...good, ['.manifest', JSON.stringify({ revision: 'r', roots: 'fixture' })]])), /roots is not a list/],
    ['overlapping roots', async () => repack(dir, new Map<string, Buffer | string>([...good, ['.manifest', JSON.stringify({ roots: ['fixture', 'fixture/a'] })]])), /overlap/],
    ['data outside roots', async () => repack(dir, new Map<string, Buffer | string>([...good, ['other/data.json', '{"a":1}']])), /outside the manifest roots/],
    ['package outside roots', async () => repack(dir, new Map<string, Buffer | string>([...good, ['x.rego', 'package elsewhere\nx := 1\n']])), /package elsewhere is outside the manifest roots/],
    ['no policy.wasm', async () => repack(dir, new Map([...good].filter(([k]) => k !== 'policy.wasm'))), /no policy\.wasm/],
    ['policy.wasm garbage', async () => repack(dir, new Map<string, Buffer | string>([...good, ['policy.wasm', Buffer.from('\0asm garbage')]])), /policy\.wasm cannot be loaded/],
    ['path escapes bundle', async () => repack(dir, new Map<string, Buffer | string>([...good, ['a/../../evil.rego', 'package fixture\n']])), /leaves the bundle|outside/],
  ]
  for (const [name, make, reason] of cases) {
    const path = join(dir, `${name.replace(/\W/g, '_')}.tar.gz`)
    const bytes = await make()
    if (bytes) writeFileSync(path, bytes)
    const { engine, registry } = await start(t, { source: { kind: 'file', path } })
    const r = engine.readiness()
    t.equal(r.ready, false, `${name}: unready`)
    t.match(r.reason, reason, `${name}: reason says why`)
    const d = engine.evaluate(ok)
    t.equal(d.ok, false, `${name}: evaluation denies`)
    t.equal(await metricValue(registry, 'toolgate_policy_ready'), 0)
    t.equal(await metricValue(registry, 'toolgate_policy_bundle_loads_total', { result: 'failure' }), 1, `${name}: failure counted`)
  }
})

t.test('wrong entrypoint is refused with the available ones listed', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, fixtureBundle(dir, 'e'))
  const { engine } = await start(t, { source: { kind: 'file', path }, entrypoint: 'toolgate/decision' })
  t.equal(engine.readiness().ready, false)
  t.match(engine.readiness().reason, /no entrypoint toolgate\/decision \(it has: fixture\/decision\)/)
})

t.test('a module needing a builtin nobody provides is refused at load, not per call', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  const rego = 'package fixture\n\ndecision := {"allow": crypto.sha256(input.tool.name) == "x", "reasons": []}\n'
  writeFileSync(path, buildBundle(dir, { files: { 'fixture/policy.rego': rego } }))
  const { engine } = await start(t, { source: { kind: 'file', path } })
  t.equal(engine.readiness().ready, false)
  t.match(engine.readiness().reason, /needs builtins toolgate does not provide: crypto\.sha256/)
})

t.test('undefined, malformed and failing evaluations deny', async (t) => {
  const dir = tempDir(t)
  const rego = `package fixture

decision := {"allow": true, "reasons": ["fine"]} if input.tool.name == "ok"

decision := {"allow": "yes", "reasons": []} if input.tool.name == "stringly"

decision := {"allow": true, "reasons": "one"} if input.tool.name == "flat"

decision := {"allow": true, "reasons": [], "credential": {"ttl_s": -5}} if input.tool.name == "negative"

decision := {"allow": true, "reasons": [], "approval": {}} if input.tool.name == "approval"

decision := 7 if input.tool.name == "number"
`
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, buildBundle(dir, { files: { 'fixture/policy.rego': rego }, manifest: { revision: 'm' } }))
  const { engine, registry } = await start(t, { source: { kind: 'file', path }, maxMemoryPages: 16 })
  const named = (name: string) => baseInput({ tool: { ...baseInput().tool, name } })
  t.same(engine.evaluate(named('ok')), { ok: true, result: { allow: true, reasons: ['fine'] }, revision: 'm' })
  const cases: Array<[string, RegExp]> = [
    ['nothing', /undefined/], ['stringly', /allow is not a boolean/], ['flat', /reasons is not a list/],
    ['negative', /ttl_s is not a positive integer/], ['approval', /approval needs a reason/], ['number', /not an object/],
  ]
  for (const [name, why] of cases) {
    const d = engine.evaluate(named(name))
    t.equal(d.ok, false, `${name} denies`)
    if (!d.ok) {
      t.match(d.error, why, `${name}: ${d.error}`)
      t.equal(d.revision, 'm', 'the revision is still reported for the record')
    }
  }
  // 16 pages = 1 MiB of linear memory: a 4 MiB input cannot fit, the evaluation throws, the call is denied.
  const huge = baseInput({ mcp: { method: 'tools/call', tool: 'x', arguments: { blob: 'x'.repeat(4 * 1024 * 1024) } } })
  const d = engine.evaluate(huge)
  t.equal(d.ok, false, 'an evaluation that exceeds the memory bound denies')
  if (!d.ok) t.match(d.error, /policy evaluation failed/)
  t.same(engine.evaluate(named('ok')).ok, true, 'the engine still works after a failed evaluation')
  t.equal(await metricValue(registry, 'toolgate_policy_evaluation_errors_total'), cases.length + 1, 'errors counted')
})

t.test('hot swap from a watched file; a bad new bundle keeps the last good one', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, fixtureBundle(dir, 'one'))
  const { engine, registry, logs } = await start(t, { source: { kind: 'file', path } })
  t.equal(engine.revision, 'rev-one')

  atomicWrite(path, fixtureBundle(dir, 'two'))
  t.ok(await eventually(() => engine.revision === 'rev-two'), 'new revision picked up by the file watch')
  t.same(engine.evaluate(ok).ok && engine.evaluate(ok), { ok: true, result: { allow: true, reasons: ['label two'], credential: { ttl_s: 60 } }, revision: 'rev-two' })
  t.equal(await metricValue(registry, 'toolgate_policy_revision_info', { revision: 'rev-two' }), 1)
  t.equal(await metricValue(registry, 'toolgate_policy_revision_info', { revision: 'rev-one' }), 0, 'old revision series removed')

  atomicWrite(path, Buffer.from('not a bundle'))
  t.ok(await eventually(async () => (await metricValue(registry, 'toolgate_policy_bundle_loads_total', { result: 'failure' })) >= 1), 'bad bundle counted')
  t.equal(engine.revision, 'rev-two', 'last good bundle kept')
  t.same(engine.readiness(), { ready: true, reason: null }, 'still ready')
  t.equal(engine.evaluate(ok).ok, true)
  t.ok(logs.some((l) => /keeping the last good one/.test(l)), 'logged')

  atomicWrite(path, fixtureBundle(dir, 'three'))
  t.ok(await eventually(() => engine.revision === 'rev-three'), 'recovers with the next good bundle')
})

t.test('periodic re-check picks up changes without a file watch event', async (t) => {
  const dir = tempDir(t)
  const sub = join(dir, 'later')
  const path = join(sub, 'b.tar.gz')
  // The directory does not exist at start: no watch is possible, only the periodic check.
  const { engine } = await start(t, { source: { kind: 'file', path }, poll: { minDelayMs: 50, maxDelayMs: 100 } })
  t.equal(engine.readiness().ready, false)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(sub)
  writeFileSync(path, fixtureBundle(dir, 'late'))
  t.ok(await eventually(() => engine.readiness().ready), 'becomes ready once the file appears')
  t.equal(engine.revision, 'rev-late')
})

t.test('reload(): re-read on demand, new options, failure keeps last good', async (t) => {
  const dir = tempDir(t)
  const a = join(dir, 'a.tar.gz')
  const b = join(dir, 'b.tar.gz')
  writeFileSync(a, fixtureBundle(dir, 'a'))
  writeFileSync(b, fixtureBundle(dir, 'b'))
  const { engine } = await start(t, { source: { kind: 'file', path: a } })
  t.equal(await engine.reload(), true, 'unchanged reload is fine')
  t.equal(engine.revision, 'rev-a')
  t.equal(await engine.reload({ source: { kind: 'file', path: b } }), true, 'switch to another file')
  t.equal(engine.revision, 'rev-b')
  t.equal(await engine.reload({ source: { kind: 'file', path: join(dir, 'missing.tar.gz') } }), false, 'switch to a missing file fails')
  t.equal(engine.revision, 'rev-b', 'last good kept')
  t.equal(await engine.reload({ entrypoint: 'fixture/nope' }), false, 'bad entrypoint fails')
  t.equal(engine.evaluate(ok).ok, true, 'still evaluating with the previous options')
  writeFileSync(b, fixtureBundle(dir, 'b2'))
  t.equal(await engine.reload(), true)
  t.equal(engine.revision, 'rev-b2', 'the previous (good) source is still the one re-read')
})

t.test('operator data (policy.data) reaches the policy as data.toolgate_config', async (t) => {
  const { engine } = await start(t, {
    source: { kind: 'embedded' },
    entrypoint: 'toolgate/decision',
    extraData: { classification_ceiling: { namespaces: { agents: 'restricted' } } },
  })
  const restricted = baseInput({ tool: { ...baseInput().tool, data_classification: 'restricted' } })
  const d = engine.evaluate(restricted)
  t.equal(d.ok && d.result.allow, true, 'namespace ceiling from the config applies')
  t.equal(await engine.reload({ extraData: {} }), true, 'data change reloads even though the bundle is unchanged')
  const d2 = engine.evaluate(restricted)
  t.equal(d2.ok && d2.result.allow, false, 'back to the default ceiling')
})

t.test('close() stops watching and polling', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'b.tar.gz')
  writeFileSync(path, fixtureBundle(dir, 'c'))
  const engine = await PolicyEngine.start({ source: { kind: 'file', path }, entrypoint: 'fixture/decision', registry: new Registry(), logger: silentLogger, poll: { minDelayMs: 20, maxDelayMs: 30 } })
  await engine.close()
  atomicWrite(path, fixtureBundle(dir, 'after-close'))
  await new Promise((r) => setTimeout(r, 200))
  t.equal(engine.revision, 'rev-c', 'no reload after close')
  t.equal(await engine.reload(), false)
})
