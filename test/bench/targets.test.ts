// The benchmark suite's verdicts (bench/suite/results.ts evaluateTargets) and their rendering
// (table.ts): every issue-19 target is evaluated from one run's numbers, against the right
// limit in the right direction, n/a when a scenario it needs was skipped, and printed with the
// numbers behind it. Pure functions over a suite result: no load is generated here (the suite
// itself is a benchmark, not a test).
import t from 'tap'
import { evaluateTargets, ISSUE19, type ScenarioResult, type SuiteResult } from '../../bench/suite/results.ts'
import { renderMarkdown, renderTable } from '../../bench/suite/table.ts'

const lat = (p50: number, p99: number) => ({ p50, p90: p99, p99, p999: p99, max: p99, mean: p50 })

function scenario(name: string, o: { cpuHi: number; cpuLow: number; low: [number, number]; maxP99: number; rssIdle?: number; rss?: number }): ScenarioResult {
  return {
    name, description: name, baseline: name === 'direct' ? null : 'direct', toolgate: name.startsWith('toolgate'),
    fixed_rate: { offered_rps: 2000, achieved_rps: 2000, sent: 20000, errors: 0, statuses: {}, latency_ms: lat(1, 2), generator_lag_ms: { p99: 0, max: 0 }, cpu_us_per_request: o.cpuHi, rss_mib_peak: o.rss ?? 90 },
    low_rate: { offered_rps: 200, connections: 4, achieved_rps: 200, sent: 2000, errors: 0, latency_ms: lat(...o.low), cpu_us_per_request: o.cpuLow },
    max_throughput: { rps: 3000, requests: 15000, errors: 0, cpu_us_per_request: 300, latency_ms: { p50: 5, p99: o.maxP99, p999: o.maxP99, max: o.maxP99 } },
    rss_mib_peak: o.rss ?? 90, rss_idle_mib: o.rssIdle ?? 55,
    low_rate_added_ms: { p50: o.low[0] - 0.4, p99: o.low[1] - 1, p999: 0 },
  }
}

function suite(): SuiteResult {
  return {
    bench: 'suite', when: '2026-12-02T00:00:00Z', node: 'v24', machine: { cpus: 2, cpu_model: 'x', mem_gib: 8, loadavg_before: [0, 0, 0], loadavg_after: [0, 0, 0] },
    settings: { rate: 2000, seconds: 10, warmup_seconds: 2, max_seconds: 5, connections: 32, quick: false, nginx_workers: 1, toolgate_node_args: '', toolgate_runtime: 'sidecar', toolgate_env: { NODE_OPTIONS: null, MALLOC_ARENA_MAX: null }, toolgate_bin: 'dist/bin/toolgate.js', low_rate: 200, low_rate_connections: 4 },
    scenarios: [
      scenario('direct', { cpuHi: 50, cpuLow: 200, low: [0.4, 1], maxP99: 3 }),
      // CPU 1.1x / 1.5x the floor; +p50 0.1 ms / +p99 0.5 ms over the floor's.
      scenario('toolgate', { cpuHi: 110, cpuLow: 600, low: [0.7, 2.5], maxP99: 20, rssIdle: 58, rss: 101 }),
      scenario('toolgate-forward', { cpuHi: 130, cpuLow: 480, low: [0.9, 4], maxP99: 19 }),
      scenario('node-proxy', { cpuHi: 100, cpuLow: 400, low: [0.6, 2], maxP99: 10 }),
    ],
    ready: { median_ms: 150, samples_ms: [150] },
    one_core: { proxy_cpu: 0, loadgen_cpu: 1, seconds: 5, connections: 32, smokescreen_build_s: null, rows: [
      { name: 'smokescreen', description: '', rps: 2000, requests: 10000, errors: 0, latency_ms: { p50: 10, p99: 100, p999: 100, max: 100 }, cpu_us_per_request: 300 },
      { name: 'toolgate-forward', description: '', rps: 3100, requests: 15500, errors: 0, latency_ms: { p50: 10, p99: 100, p999: 100, max: 100 }, cpu_us_per_request: 300 },
      { name: 'toolgate-prefix', description: '', rps: 3000, requests: 15000, errors: 0, latency_ms: { p50: 10, p99: 115, p999: 120, max: 120 }, cpu_us_per_request: 310 },
    ] },
    policy: { in_process: { n: 1000, p50: 10, p99: 49, max: 80 }, rest_pdp: { n: 100, p50: 400, p99: 450, max: 900 }, rest_over_in_process: { p50: 40, p99: 450 / 49 } },
    targets: [],
  }
}

const find = (s: SuiteResult, target: RegExp, scenario: string) => {
  const r = evaluateTargets(s).find((x) => target.test(x.target) && x.scenario === scenario)
  if (!r) throw new Error(`no target ${target} for ${scenario}`)
  return r
}

t.test('every issue-19 target is evaluated with its limit and direction', async (t) => {
  const s = suite()
  const all = evaluateTargets(s).filter((x) => x.issue === 19)
  t.equal(all.length, 4 * 2 + 3 + 3 + 3, 'CPU x2, added p50/p99 for two modes; prefix x2 and Smokescreen; policy x3; RSS x2 and ready')
  t.match(find(s, /^CPU per call at 2000/, 'toolgate'), { value: 1.1, limit: ISSUE19.cpuVsFloor, met: true })
  t.match(find(s, /^CPU per call at 200 /, 'toolgate'), { value: 1.5, met: false })
  t.match(find(s, /^CPU per call at 200 /, 'toolgate-forward'), { value: 1.2, met: true }, 'the limit itself is met')
  t.match(find(s, /^added p50 at 200/, 'toolgate'), { value: 0.1, met: true })
  t.match(find(s, /^added p50 at 200/, 'toolgate-forward'), { value: 0.3, met: false })
  t.match(find(s, /^added p99 at 200/, 'toolgate'), { value: 0.5, met: true })
  t.match(find(s, /^added p99 at 200/, 'toolgate-forward'), { value: 2, met: false })
  t.match(find(s, /one core$/, 'toolgate-prefix'), { value: 1.15, met: false }, 'prefix 15 % slower at p99 than forward: missed')
  t.match(find(s, /suite closed loop$/, 'toolgate'), { value: 1.053, met: true })
  t.match(find(s, /vs Smokescreen/, 'toolgate-forward'), { value: 1.55, direction: '>=', met: true })
  t.match(find(s, /policy decision p99/, 'policy'), { value: 49, met: true })
  t.match(find(s, /at p99$/, 'policy'), { value: 9.184, direction: '>=', met: false }, 'REST only 9.2x slower at p99: missed')
  t.match(find(s, /RSS idle/, 'toolgate'), { value: 58, met: true })
  t.match(find(s, /RSS peak under 2000/, 'toolgate'), { value: 101, met: false })
  t.match(find(s, /ready after start/, 'toolgate'), { value: 150, met: true })
})

t.test('a target whose scenario was skipped is n/a, never met', async (t) => {
  const s = suite()
  s.scenarios = s.scenarios.map((r) => (r.name === 'node-proxy' ? { name: r.name, description: '', baseline: 'direct', toolgate: false, skipped: 'not built' } : r))
  s.one_core = { skipped: 'needs at least 2 CPUs' }
  delete s.policy
  s.ready = null
  for (const x of evaluateTargets(s).filter((r) => r.issue === 19 && !/closed loop$/.test(r.target) && !/RSS/.test(r.target))) {
    t.equal(x.met, null, `${x.target} [${x.scenario}]`)
    t.equal(x.value, null)
  }
})

t.test('the table and the markdown show every target with its verdict and the numbers behind it', async (t) => {
  const s = suite()
  s.targets = evaluateTargets(s)
  const text = renderTable(s)
  const md = renderMarkdown(s)
  for (const x of s.targets) {
    t.ok(text.includes(x.target), `table: ${x.target}`)
    t.ok(md.includes(x.target), `markdown: ${x.target}`)
  }
  t.match(md, /\| MISSED \| CPU per call at 200 req\/s vs node-proxy floor \| toolgate \| 1\.5 x \| <= 1\.2 x \| 600 vs 400 µs \|/)
  t.match(md, /\| met \| forward req\/s on one core vs Smokescreen \| toolgate-forward \| 1\.55 x \| >= 1\.5 x \| 3100 vs 2000 req\/s \|/)
  t.match(text, /smokescreen\s+2000/)
})
