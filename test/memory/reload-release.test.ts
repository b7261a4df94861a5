// Superseded configs, pools and policy instances are released once their last call ends (issue
// 20). A real toolgate (in this process, so the test can force a full GC and read the
// FinalizationRegistry-backed live counts) takes 40 config reloads, each of which also swaps the
// policy bundle file between two revisions, with slow calls in flight across the reloads through
// real upstream pools. When every call has ended and a GC has run, the live counts of config
// snapshots, pool sets, pools and policy instances are back to what the active config needs, and
// the /metrics gauges say so.
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as tar from 'tar'
import { startUpstream } from '../helpers/upstream.ts'
import { startTestToolgate, testConfig, testListeners, loopbackTool } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { createdCount, liveCount, LIVE_KINDS, type LiveKind } from '../../proxy/src/telemetry/live-objects.ts'
import { compiledModuleCount } from '../../proxy/src/decide/policy/wasm-policy.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const repoRoot = new URL('../..', import.meta.url).pathname

/** Full GCs until the finalizers have run (they are queued after the GC, not run inside it). */
async function collect(): Promise<Record<LiveKind, number>> {
  for (let i = 0; i < 6; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setTimeout(r, 10))
  }
  return Object.fromEntries(LIVE_KINDS.map((k) => [k, liveCount(k)])) as Record<LiveKind, number>
}

async function bundles(dir: string): Promise<string[]> {
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  await tar.x({ file: join(repoRoot, 'policy', 'default-bundle.tar.gz'), cwd: src })
  const manifest = JSON.parse(readFileSync(join(src, '.manifest'), 'utf8')) as { revision: string }
  const out: string[] = []
  for (const rev of ['a', 'b']) {
    writeFileSync(join(src, '.manifest'), JSON.stringify({ ...manifest, revision: `${manifest.revision}-release-${rev}` }))
    const file = join(dir, `${rev}.tar.gz`)
    await tar.c({ gzip: true, file, cwd: src, portable: true }, ['.manifest', 'data.json', 'policy.wasm', 'toolgate'])
    out.push(file)
  }
  return out
}

t.test('after 40 reloads and bundle swaps with calls in flight, superseded objects are released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-release-'))
  const [a, b] = await bundles(dir)
  const bundleFile = join(dir, 'policy.tar.gz')
  const swap = (from: string): void => { writeFileSync(`${bundleFile}.tmp`, readFileSync(from)); renameSync(`${bundleFile}.tmp`, bundleFile) }
  swap(a!)
  const up = await startUpstream()
  t.teardown(() => up.close())
  const yaml = (rev: number): string => `version: 1
${testListeners}
policy: { bundle: ${bundleFile}, poll: { min_delay_ms: 3600000, max_delay_ms: 3600000 } }
tools:
${loopbackTool('echo', up.port)}${rev % 2 ? loopbackTool(`extra-${rev}`, up.port + 1) : ''}`

  const before = await collect()
  const createdBefore = Object.fromEntries(LIVE_KINDS.map((k) => [k, createdCount(k)])) as Record<LiveKind, number>
  const gate = await startTestToolgate(yaml(0))
  t.teardown(() => gate.close())

  const RELOADS = 40
  const inFlight: Promise<{ status: number }>[] = []
  for (let i = 1; i <= RELOADS; i++) {
    // A slow call holds the current snapshot (and its pool) across the reload; a fast one makes
    // the new snapshot open its own pool.
    const slowSeen = up.received.length
    inFlight.push(viaProxy(gate.proxyUrl, 'GET', `${up.url}/slow?ms=150`))
    for (const until = Date.now() + 5000; up.received.length === slowSeen && Date.now() < until;) await new Promise((r) => setTimeout(r, 2))
    swap(i % 2 ? b! : a!)
    await gate.tg.applyConfig(testConfig(yaml(i)))
    inFlight.push(viaProxy(gate.proxyUrl, 'GET', `${up.url}/echo?i=${i}`))
  }
  const answers = await Promise.all(inFlight)
  t.same(answers.map((r) => r.status), answers.map(() => 200), 'every call across the reloads was answered by the upstream')

  const created = Object.fromEntries(LIVE_KINDS.map((k) => [k, createdCount(k) - createdBefore[k]])) as Record<LiveKind, number>
  t.ok(created.config_snapshot >= RELOADS + 1, `a snapshot per reload was built (${created.config_snapshot})`)
  t.ok(created.pool_set >= RELOADS + 1, `a pool set per reload (${created.pool_set})`)
  t.ok(created.upstream_pool >= RELOADS, `pools were opened across the reloads (${created.upstream_pool})`)
  t.ok(created.policy_instance >= RELOADS / 2, `bundle swaps instantiated new policies (${created.policy_instance})`)

  // Superseded pools close gracefully; give their sockets' close events a moment, then collect.
  const settled = Date.now() + 10_000
  let now = await collect()
  const extra = (k: LiveKind): number => now[k] - before[k]
  while (Date.now() < settled && (extra('config_snapshot') > 1 || extra('pool_set') > 1 || extra('upstream_pool') > 1 || extra('policy_instance') > 1)) {
    await new Promise((r) => setTimeout(r, 200))
    now = await collect()
  }
  t.equal(extra('config_snapshot'), 1, 'one live config snapshot: the active one')
  t.equal(extra('pool_set'), 1, 'one live pool set')
  t.ok(extra('upstream_pool') <= 1, `at most the active config's one pool is alive (${extra('upstream_pool')})`)
  t.equal(extra('policy_instance'), 1, 'one live policy instance: the active one')
  t.ok(compiledModuleCount() <= 2, `compiled policy modules are reused, not kept per swap (${compiledModuleCount()})`)

  // The operator sees the same through /metrics.
  const metrics = await (await fetch(`${gate.adminUrl}/metrics`)).text()
  for (const kind of LIVE_KINDS) t.match(metrics, new RegExp(`^toolgate_live_objects\\{kind="${kind}"\\} ${now[kind]}$`, 'm'), `toolgate_live_objects{kind="${kind}"} is exported`)
  t.match(metrics, /^toolgate_policy_wasm_memory_bytes\{revision="[^"]*-release-[ab]"\} \d+$/m, 'the active policy\'s WASM memory, labelled by revision')
  for (const area of ['rss', 'heap_used', 'external', 'array_buffers', 'wasm']) t.match(metrics, new RegExp(`^toolgate_memory_bytes\\{area="${area}"\\} [1-9]\\d*$`, 'm'), `toolgate_memory_bytes{area="${area}"}`)
})

t.test('a config reload that changes nothing about the policy builds no new policy instance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-release-'))
  const [a, b] = await bundles(dir)
  const bundleFile = join(dir, 'policy.tar.gz')
  writeFileSync(bundleFile, readFileSync(a!))
  const up = await startUpstream()
  t.teardown(() => up.close())
  const yaml = (rev: number, data = 'x'): string => `version: 1
${testListeners}
policy: { bundle: ${bundleFile}, data: { soak_marker: ${data} }, poll: { min_delay_ms: 3600000, max_delay_ms: 3600000 } }
tools:
${loopbackTool(`echo-${rev}`, up.port)}`
  const gate = await startTestToolgate(yaml(0))
  t.teardown(() => gate.close())
  const instances = createdCount('policy_instance')
  for (let i = 1; i <= 10; i++) await gate.tg.applyConfig(testConfig(yaml(i)))
  t.equal(createdCount('policy_instance'), instances, 'ten tool-only reloads: no new instance')
  t.equal((await viaProxy(gate.proxyUrl, 'GET', `${up.url}/echo`)).status, 200, 'the reloaded tools are in force')
  await gate.tg.applyConfig(testConfig(yaml(11, 'y')))
  t.equal(createdCount('policy_instance'), instances + 1, 'policy.data changed: one new instance')
  writeFileSync(`${bundleFile}.tmp`, readFileSync(b!))
  renameSync(`${bundleFile}.tmp`, bundleFile)
  await gate.tg.applyConfig(testConfig(yaml(12, 'y')))
  t.equal(createdCount('policy_instance'), instances + 2, 'bundle file changed: one new instance')
  t.match(await (await fetch(`${gate.adminUrl}/metrics`)).text(), /toolgate_policy_revision_info\{revision="[^"]*-release-b"\} 1/, 'the new bundle is active')
})
