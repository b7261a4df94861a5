// The benchmark suite (`npm run bench`): every scenario in bench/suite/scenarios.ts, one after
// the other, in one run on one machine, so the numbers are comparable side by side.
//
// Per scenario: a probe request (the answer must be the right one, or the scenario is skipped
// with the reason), then open-loop load at a fixed rate (warm-up, then the measured phase:
// latency percentiles, CPU time of the scenario's processes per request, peak RSS), then
// closed-loop maximum throughput. Added latency = scenario percentile - its baseline's
// percentile. Finally toolgate's ready-after-start time (spawn to /readyz 200, median of 5).
//
//   node bench/suite/run.ts [--quick] [--rate 2000] [--seconds 10] [--max-seconds 5]
//                           [--connections 32] [--only a,b] [--nginx-workers 1]
//                           [--toolgate-node-args="--max-old-space-size=64"] [--toolgate-bin dist/bin/toolgate.js]
//                           [--low-rate 200] [--low-connections 4] [--no-one-core] [--no-policy]
// Also, per scenario, open-loop load at the agent-like rate (--low-rate over --low-connections:
// CPU per call and added latency where agents really run), the latency of the closed loop (the
// tail at saturation) and RSS idle; after the scenarios, the one-core forward-proxy comparison
// with Smokescreen and prefix vs forward mode (one-core.ts) and the policy decision bench
// (bench/policy/run.ts). Issue 19's targets are evaluated against all of it (results.ts).
// Output: a table and the targets on stdout, bench/results/suite.json, suite.md, suite.svg.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir, cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Pool, type Dispatcher } from 'undici'
import { addedLatency, maxThroughput, r3, runLoad } from '../lib/loadgen.ts'
import { repoRoot, startChild } from '../lib/processes.ts'
import { cpuSeconds, rssMiBOf, sampleRss } from '../lib/procstat.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { runOneCore } from './one-core.ts'
import { writeTestPki } from '../lib/pki.ts'
import { measureReady } from '../lib/toolgate-process.ts'
import { scenarios, allowConfig, type Prepared, type SuiteContext, type Target } from './scenarios.ts'
import { evaluateTargets, type PolicyBench, type ScenarioResult, type SuiteResult } from './results.ts'
import { renderMarkdown, renderTable } from './table.ts'
import { renderSvg } from './svg.ts'
import { SIDECAR_RUNTIME } from '../../proxy/src/inject/settings.ts'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    'max-seconds': { type: 'string' },
    'warmup-seconds': { type: 'string' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
    'nginx-workers': { type: 'string', default: '1' },
    // Node flags for the toolgate processes (as --toolgate-node-args="...").
    'toolgate-node-args': { type: 'string', default: '' },
    // Memory settings of the toolgate processes: `sidecar` (NODE_OPTIONS and MALLOC_ARENA_MAX as
    // the injected sidecar gets them, proxy/src/inject/settings.ts SIDECAR_RUNTIME) or `node`
    // (Node's and glibc's defaults, for comparison).
    'toolgate-runtime': { type: 'string', default: 'sidecar' },
    // Which toolgate entry point to run: the sources (bin/toolgate.js, types stripped at start)
    // or the compiled tree of `npm run build` (dist/bin/toolgate.js), as a container image would.
    'toolgate-bin': { type: 'string', default: 'bin/toolgate.js' },
    out: { type: 'string', default: join(repoRoot, 'bench', 'results') },
    'low-rate': { type: 'string', default: '200' },
    'low-connections': { type: 'string', default: '4' },
    'no-one-core': { type: 'boolean', default: false },
    'no-policy': { type: 'boolean', default: false },
  },
})
/** Environment of the toolgate processes for --toolgate-runtime. */
function runtimeEnv(kind: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env['NODE_OPTIONS']
  delete env['MALLOC_ARENA_MAX']
  if (kind === 'node') return env
  if (kind !== 'sidecar') throw new Error(`--toolgate-runtime: expected sidecar or node, got ${kind}`)
  return { ...env, NODE_OPTIONS: SIDECAR_RUNTIME.nodeOptions, MALLOC_ARENA_MAX: String(SIDECAR_RUNTIME.mallocArenaMax) }
}

const quick = values.quick === true
const rate = Number(values.rate ?? 2000)
const seconds = Number(values.seconds ?? (quick ? 4 : 10))
const maxSeconds = Number(values['max-seconds'] ?? (quick ? 2 : 5))
const warmupSeconds = Number(values['warmup-seconds'] ?? (quick ? 1 : 2))
const connections = Number(values.connections)
const lowRate = Number(values['low-rate'])
const lowConnections = Number(values['low-connections'])
const only = values.only ? new Set(values.only.split(',')) : null
const node = process.execPath

const dir = mkdtempSync(join(tmpdir(), 'toolgate-suite-'))
const secretFile = join(dir, 'bench-secret')
writeFileSync(secretFile, `bench-secret-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 })
const upstreamPki = await writeTestPki(dir, 'upstream')
const interceptPki = await writeTestPki(dir, 'intercept')
const upstream = await startChild(node, ['bench/lib/upstream-server.ts', '--secret-file', secretFile], /listening (\d+)/)
const httpsUpstream = await startChild(node, ['bench/lib/upstream-server.ts', '--tls-cert', upstreamPki.serverCert, '--tls-key', upstreamPki.serverKey], /listening (\d+)/)
const mcp = await startChild(node, ['bench/lib/mcp-server.ts'], /listening (\d+)/)
const ctx: SuiteContext = {
  dir,
  upstreamPort: Number(upstream.ready[1]), upstreamPid: upstream.proc.pid!,
  httpsUpstreamPort: Number(httpsUpstream.ready[1]), httpsUpstreamPid: httpsUpstream.proc.pid!,
  mcpPort: Number(mcp.ready[1]), mcpPid: mcp.proc.pid!,
  upstreamPki, interceptPki, secretFile, connections,
  nginxWorkers: Number(values['nginx-workers']),
  toolgateNodeArgs: values['toolgate-node-args']!.split(' ').filter(Boolean),
  toolgateEnv: runtimeEnv(values['toolgate-runtime']!),
  toolgateBin: values['toolgate-bin']!,
}
if (!existsSync(join(repoRoot, ctx.toolgateBin))) throw new Error(`${ctx.toolgateBin} does not exist (dist/: run npm run build first)`)

async function probe(t: Target): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const d: Dispatcher = t.dispatcher ? t.dispatcher() : new Pool(t.origin, { connections: 1 })
  try {
    const res = await d.request({ origin: t.origin, path: t.path, method: (t.method ?? 'GET') as Dispatcher.HttpMethod, headers: t.headers, body: t.body ?? null, headersTimeout: 10_000, bodyTimeout: 10_000 })
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
  } finally {
    await d.close()
  }
}

const results: ScenarioResult[] = []
const loadBefore = loadavg()
for (const s of scenarios) {
  if (only && !only.has(s.name)) continue
  process.stderr.write(`[bench] ${s.name}: `)
  let prepared: Prepared | { skip: string }
  try {
    prepared = await s.setup(ctx)
  } catch (err) {
    prepared = { skip: `setup failed: ${(err as Error).message.slice(0, 300)}` }
  }
  if ('skip' in prepared) {
    process.stderr.write(`SKIPPED: ${prepared.skip}\n`)
    results.push({ name: s.name, description: s.description, baseline: s.baseline, toolgate: s.toolgate, skipped: prepared.skip })
    continue
  }
  const p = prepared
  try {
    let why: string | null
    try { why = p.verify(await probe(p.target)) } catch (err) { why = `probe failed: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}` }
    if (why) {
      process.stderr.write(`SKIPPED: ${why}\n`)
      results.push({ name: s.name, description: s.description, baseline: s.baseline, toolgate: s.toolgate, skipped: why })
      continue
    }
    const common = { ...p.target, connections }
    const rssIdle = rssMiBOf(p.pids)
    // Warm-up first (JIT, pools, credential cache), then the measured phase with CPU and RSS.
    await runLoad({ ...common, rate, durationMs: warmupSeconds * 1000 })
    const cpu0 = cpuSeconds(p.pids)
    const rss = sampleRss(p.pids)
    const fixed = await runLoad({ ...common, rate, durationMs: seconds * 1000 })
    const cpuFixed = cpuSeconds(p.pids) - cpu0
    const rssFixed = rss.stop()
    // Agent-like rate: fewer connections, far fewer calls (CPU per call includes the idle-ish
    // overheads a saturated run amortises: timers, GC of a mostly idle heap, syscalls per call).
    const cpuLow0 = cpuSeconds(p.pids)
    const low = await runLoad({ ...p.target, connections: lowConnections, rate: lowRate, durationMs: seconds * 1000 })
    const cpuLow = cpuSeconds(p.pids) - cpuLow0
    const rssMax = sampleRss(p.pids)
    const cpu1 = cpuSeconds(p.pids)
    const max = await maxThroughput({ ...common, durationMs: maxSeconds * 1000 })
    const cpuMax = cpuSeconds(p.pids) - cpu1
    const rssPeak = Math.max(rssFixed, rssMax.stop())
    results.push({
      name: s.name, description: s.description, baseline: s.baseline, toolgate: s.toolgate,
      ...(p.notes ? { notes: p.notes } : {}),
      ...(p.readyMs !== undefined ? { ready_ms: Math.round(p.readyMs) } : {}),
      fixed_rate: {
        offered_rps: rate, achieved_rps: Math.round(fixed.achievedRate), sent: fixed.sent, errors: fixed.errors, statuses: fixed.statuses,
        latency_ms: { p50: r3(fixed.latencyMs.p50), p90: r3(fixed.latencyMs.p90), p99: r3(fixed.latencyMs.p99), p999: r3(fixed.latencyMs.p999), max: r3(fixed.latencyMs.max), mean: r3(fixed.latencyMs.mean) },
        generator_lag_ms: { p99: r3(fixed.lagMs.p99), max: r3(fixed.lagMs.max) },
        cpu_us_per_request: Math.round((cpuFixed / fixed.sent) * 1e6 * 10) / 10,
        rss_mib_peak: r3(rssFixed),
      },
      low_rate: {
        offered_rps: lowRate, connections: lowConnections, achieved_rps: Math.round(low.achievedRate), sent: low.sent, errors: low.errors,
        latency_ms: { p50: r3(low.latencyMs.p50), p90: r3(low.latencyMs.p90), p99: r3(low.latencyMs.p99), p999: r3(low.latencyMs.p999), max: r3(low.latencyMs.max), mean: r3(low.latencyMs.mean) },
        cpu_us_per_request: Math.round((cpuLow / low.sent) * 1e6 * 10) / 10,
      },
      max_throughput: { rps: Math.round(max.rps), requests: max.requests, errors: max.errors, cpu_us_per_request: max.requests ? Math.round((cpuMax / max.requests) * 1e6 * 10) / 10 : null, latency_ms: { p50: r3(max.latencyMs.p50), p99: r3(max.latencyMs.p99), p999: r3(max.latencyMs.p999), max: r3(max.latencyMs.max) } },
      rss_mib_peak: r3(rssPeak),
      rss_idle_mib: r3(rssIdle),
    })
    process.stderr.write(`p50 ${r3(fixed.latencyMs.p50)} ms, p99 ${r3(fixed.latencyMs.p99)} ms, max ${Math.round(max.rps)} req/s, errors ${fixed.errors + max.errors}\n`)
  } finally {
    await p.close()
  }
}

// Ready after start, measured on its own (no load running), median of 5 starts.
let ready: SuiteResult['ready'] = null
if (!only || only.has('toolgate') || only.has('ready')) {
  try {
    const r = await measureReady(dir, allowConfig(ctx, 'ready'), 5, { nodeArgs: ctx.toolgateNodeArgs, bin: ctx.toolgateBin, env: ctx.toolgateEnv })
    ready = { median_ms: Math.round(r.medianMs), samples_ms: r.samplesMs.map((v) => Math.round(v)) }
  } catch (err) {
    process.stderr.write(`[bench] ready: SKIPPED: ${(err as Error).message.slice(0, 200)}\n`)
  }
}

// Forward proxy on one core: Smokescreen vs toolgate (forward and prefix mode).
let oneCore: SuiteResult['one_core']
if (!values['no-one-core'] && (!only || only.has('one-core'))) {
  try {
    oneCore = await runOneCore(ctx, { seconds: maxSeconds, warmupSeconds, connections })
  } catch (err) {
    oneCore = { skipped: `failed: ${(err as Error).message.slice(0, 300)}` }
  }
  if ('skipped' in oneCore) process.stderr.write(`[bench] one-core: SKIPPED: ${oneCore.skipped}\n`)
}

// Policy decision latency, in process vs OPA REST (its own process: nothing else running).
let policy: SuiteResult['policy']
if (!values['no-policy'] && (!only || only.has('policy'))) {
  process.stderr.write('[bench] policy: ')
  try {
    const { stdout } = await promisify(execFile)(node, ['bench/policy/run.ts', '--json', ...(quick ? ['--rounds', '1'] : [])], { cwd: repoRoot, maxBuffer: 1 << 20, timeout: 300_000 })
    policy = JSON.parse(stdout) as PolicyBench
    process.stderr.write(`in process p50 ${r3(policy.in_process.p50)} µs, p99 ${r3(policy.in_process.p99)} µs; REST p50 ${r3(policy.rest_pdp.p50)} µs\n`)
  } catch (err) {
    policy = { skipped: `failed: ${(err as Error).message.slice(0, 300)}` }
    process.stderr.write(`SKIPPED: ${policy.skipped}\n`)
  }
}

await upstream.stop()
await httpsUpstream.stop()
await mcp.stop()

// Added latency against each scenario's baseline.
for (const r of results) {
  const base = results.find((b) => b.name === r.baseline)
  if (r.fixed_rate && base?.fixed_rate) {
    r.added_ms = addedLatency(r.fixed_rate.latency_ms, base.fixed_rate.latency_ms)
  }
  if (r.low_rate && base?.low_rate) r.low_rate_added_ms = addedLatency(r.low_rate.latency_ms, base.low_rate.latency_ms)
}
const suite: SuiteResult = {
  bench: 'suite',
  when: new Date().toISOString(),
  node: process.version,
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', mem_gib: Math.round(totalmem() / 2 ** 30), loadavg_before: loadBefore.map(r3), loadavg_after: loadavg().map(r3) },
  settings: { rate, seconds, warmup_seconds: warmupSeconds, max_seconds: maxSeconds, connections, quick, nginx_workers: ctx.nginxWorkers, toolgate_node_args: ctx.toolgateNodeArgs.join(' '), toolgate_runtime: values['toolgate-runtime']!, toolgate_env: { NODE_OPTIONS: ctx.toolgateEnv['NODE_OPTIONS'] ?? null, MALLOC_ARENA_MAX: ctx.toolgateEnv['MALLOC_ARENA_MAX'] ?? null }, toolgate_bin: ctx.toolgateBin, low_rate: lowRate, low_rate_connections: lowConnections },
  scenarios: results,
  ready,
  ...(oneCore ? { one_core: oneCore } : {}),
  ...(policy ? { policy } : {}),
  targets: [],
}
suite.targets = evaluateTargets(suite)

mkdirSync(values.out!, { recursive: true })
writeFileSync(join(values.out!, 'suite.json'), JSON.stringify(suite, null, 2) + '\n')
writeFileSync(join(values.out!, 'suite.svg'), renderSvg(suite))
writeFileSync(join(values.out!, 'suite.md'), renderMarkdown(suite))
process.stdout.write(renderTable(suite) + '\n')
process.stdout.write(`\nwrote ${join(values.out!, 'suite.json')}, suite.md and suite.svg\n`)
rmSync(dir, { recursive: true, force: true })
