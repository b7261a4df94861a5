// The short CI soak: runs bench/soak/run.ts for ~20 s at a modest rate against a real toolgate
// process, real upstreams (one of them injecting resets and timeouts) and the official MCP SDK
// server, with config and bundle rewrites under load, and asserts on its JSON report. No mocks.
// Also checks the leak rule itself on known series, so "memory keeps growing" can fail.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { memoryVerdict, slope, type MemorySample } from '../../bench/soak/memory-trend.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('leak rule: a steady climb fails, a flat sawtooth and a warm-up step pass', async (t) => {
  t.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2)
  const series = (f: (s: number) => number): MemorySample[] => Array.from({ length: 60 }, (_, i) => ({ t_s: i + 1, rss_mib: f(i + 1), heap_used_mib: 30 }))
  // 0.5 MiB/s = 30 MiB/min for a minute: a leak.
  t.equal(memoryVerdict(series((s) => 100 + s * 0.5), 60).verdict, 'growing')
  // GC sawtooth around a flat level.
  t.equal(memoryVerdict(series((s) => 100 + (s % 5) * 3), 60).verdict, 'ok')
  // Growth only in the first third (warm-up), then flat.
  t.equal(memoryVerdict(series((s) => (s < 20 ? 60 + s * 2 : 100)), 60).verdict, 'ok')
  // Heap growth counts too.
  const heapLeak = Array.from({ length: 60 }, (_, i) => ({ t_s: i + 1, rss_mib: 100, heap_used_mib: 20 + i }))
  t.equal(memoryVerdict(heapLeak, 60).verdict, 'growing')
  t.equal(memoryVerdict(series(() => 100).slice(0, 5), 5).verdict, 'insufficient')
  // A short run (< 60 s) judges the heap in use, not RSS, which is still settling.
  const shortRss = Array.from({ length: 20 }, (_, i) => ({ t_s: i + 1, rss_mib: 100 + i * 2, heap_used_mib: 30 }))
  t.equal(memoryVerdict(shortRss, 20).verdict, 'ok')
  const shortHeap = Array.from({ length: 20 }, (_, i) => ({ t_s: i + 1, rss_mib: 100, heap_used_mib: 20 + i }))
  t.equal(memoryVerdict(shortHeap, 20).verdict, 'growing')
})

t.test('short soak: mixed traffic, reloads and faults, every answer right, memory flat', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'toolgate-soak-test-')), 'soak.json')
  const r = spawnSync(process.execPath, ['bench/soak/run.ts', '--duration', '20s', '--rate', '100', '--reload-every', '1500ms', '--json', out], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  t.comment(r.stdout)
  if (r.stderr) t.comment(r.stderr.slice(-2000))
  const report = JSON.parse(readFileSync(out, 'utf8'))
  t.equal(report.requests.scheduled, 2000, 'the whole bounded schedule was due')
  t.equal(report.requests.sent + report.requests.shed, 2000, 'every due call was sent or shed (bounded in flight)')
  t.ok(report.requests.sent >= 1500, `most calls were sent even on a loaded machine (${report.requests.sent})`)
  t.equal(report.requests.wrong, 0, `no wrong answers: ${JSON.stringify(report.wrong_samples.slice(0, 5))}`)
  t.equal(report.secret_leaks, 0, 'the credential secret never appears in a response or record')
  for (const kind of ['allowed', 'credentialed', 'denied-path', 'denied-method', 'unknown-tool', 'slow', 'reset', 'timeout', 'mcp-allowed', 'mcp-denied']) {
    t.ok(report.requests.by_kind[kind]?.right > 0, `${kind} calls were sent and answered right`)
  }
  t.ok(report.records >= report.requests.sent, 'one decision record per call sent at least')
  t.ok(report.reloads.config_rewrites.good > 0 && report.reloads.config_rewrites.bad > 0, 'good and bad config rewrites happened under load')
  t.ok(Object.entries(report.reloads.config_reloads_total).some(([k, v]) => k.includes('success') && (v as number) > 0), 'a good rewrite was applied')
  t.ok(Object.entries(report.reloads.config_reloads_total).some(([k, v]) => k.includes('failure') && (v as number) > 0), 'a bad rewrite was rejected')
  t.ok(report.settings.bundle_reloads, 'bundle swaps were part of the run')
  t.ok(Object.entries(report.reloads.policy_bundle_loads_total).some(([k, v]) => k.includes('success') && (v as number) > 1), 'a swapped bundle was loaded')
  t.equal(report.windows.length, 4, 'four 5 s windows of latency and memory')
  t.ok(report.memory.samples.length >= 15, 'memory sampled about every second from /metrics')
  const last = report.memory.samples[report.memory.samples.length - 1]
  t.ok(last.array_buffers_mib > 0 && last.wasm_mib > 0 && last.external_mib > 0, 'array buffers, policy WASM and external memory sampled from toolgate_memory_bytes')
  const live = report.memory.live_objects as { config_snapshot: number; policy_instance: number }[]
  t.ok(live.length >= 15 && live.every((l) => l.config_snapshot >= 1 && l.policy_instance >= 1), 'live config snapshots and policy instances sampled from toolgate_live_objects')
  t.ok(Math.max(...live.map((l) => l.config_snapshot)) <= 64, 'superseded snapshots do not pile up during the run (bounded by the GC, not by the reload count)')
  t.ok(report.memory.trend.series.rss && report.memory.trend.series.heap && report.memory.trend.series.native, 'every series has a trend and a bound')
  t.not(report.memory.trend.verdict, 'growing', `memory does not keep growing: ${JSON.stringify(report.memory.trend)}`)
  t.same(report.failures, [])
  t.equal(r.status, 0, 'the soak exits 0 when it passes')
})
