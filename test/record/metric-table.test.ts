// Every metric is declared once (proxy/src/record/metric-table.ts). These tests hold the running
// sidecar's /metrics, docs/metrics.md and every metric name the docs and the Helm dashboard
// mention to that table, so a metric cannot be added, renamed or relabelled in one place only.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { METRICS, PROCESS_METRICS_PREFIX, type MetricName } from '../../proxy/src/record/metric-table.ts'
import { startTestToolgate, testListeners, loopbackTool } from '../helpers/toolgate.ts'
import { repoRoot } from '../helpers/tools.ts'

/** The names prom-client's process metrics take with our prefix (not rows of the table). */
function processMetricNames(): Set<string> {
  const r = new Registry()
  collectDefaultMetrics({ register: r, prefix: PROCESS_METRICS_PREFIX })
  return new Set(r.getMetricsAsArray().map((m) => m.name))
}

/** name → type from the `# TYPE` lines of a Prometheus text exposition. */
function exposed(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!)
  return out
}

t.test('/metrics of a sidecar with every feature on exposes exactly the table (plus process metrics)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-metrics-'))
  writeFileSync(join(dir, 'api.secret'), 'metric-table-secret\n', { mode: 0o600 })
  // Every feature that registers metrics: TLS interception (per-pod CA), a credential provider,
  // rate limits, tasks with an issuer, approvals, OTLP log export (to a closed port: nothing is
  // sent in this test; the exporter only has to exist).
  const gate = await startTestToolgate(`version: 1
${testListeners}tls:
  ca: { publish_cert_to: ${join(dir, 'ca.pem')}, validity_hours: 24 }
credentials:
  api: { type: static, secret_file: ${join(dir, 'api.secret')} }
rate_limits:
  limits:
    - { name: calls, tool: echo, requests: 5, period_s: 60 }
tasks:
  audience: metrics-test
  issuers: [{ name: orch, issuer: "https://issuer.test", jwks_url: "http://127.0.0.1:9/jwks" }]
approvals: { timeout_ms: 1000 }
telemetry:
  logs: { endpoint: "http://127.0.0.1:9/v1/logs", interval_ms: 60000 }
tools:
${loopbackTool('echo', 9)}`)
  t.teardown(() => gate.close())
  const res = await fetch(`${gate.adminUrl}/metrics`)
  t.equal(res.status, 200)
  const names = exposed(await res.text())
  const processNames = processMetricNames()
  const ours = new Map([...names].filter(([n]) => !processNames.has(n)))
  t.same([...ours.keys()].sort(), Object.keys(METRICS).sort(), 'the exposed toolgate_* metrics are the rows of the table')
  for (const [name, type] of ours) t.equal(type, METRICS[name as MetricName]?.type, `${name} has the declared type`)
  for (const n of names.keys()) t.ok(n.startsWith('toolgate_'), `${n} carries the toolgate_ prefix`)
})

t.test('labels and buckets on /metrics are the declared ones', async (t) => {
  // Observe every labelled metric once through the same factory the owners use, on a fresh
  // registry, and read the label names back from the exposition.
  const { counter, gauge, histogram } = await import('../../proxy/src/record/metric-table.ts')
  const r = new Registry()
  for (const [name, row] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
    const labels = Object.fromEntries(row.labels.map((l) => [l, 'x']))
    if (row.type === 'counter') (counter as (r: Registry, n: string) => { inc(l: object): void })(r, name).inc(labels)
    if (row.type === 'gauge') (gauge as (r: Registry, n: string) => { set(l: object, v: number): void })(r, name).set(labels, 1)
    if (row.type === 'histogram') (histogram as (r: Registry, n: string) => { observe(l: object, v: number): void })(r, name).observe(labels, 0.001)
  }
  const text = await r.metrics()
  for (const [name, row] of Object.entries(METRICS)) {
    const sample = new RegExp(`^${name}(?:_bucket|_sum|_count)?(?:\\{([^}]*)\\})? `, 'm').exec(text)
    t.ok(sample, `${name} has a sample`)
    const got = (sample?.[1] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')[0]).filter((l) => l !== 'le').sort()
    t.same(got, [...row.labels].sort(), `${name} labels`)
    if ('buckets' in row) for (const b of row.buckets) t.match(text, `${name}_bucket{le="${b}"`, `${name} bucket ${b}`)
  }
})

t.test('docs/metrics.md is generated from the table', async (t) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/gen-metrics-docs.js'), '--check'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
})

t.test('every metric name the docs, README and Helm chart mention is declared', async (t) => {
  const processNames = processMetricNames()
  const files = [
    ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f)),
    join(repoRoot, 'README.md'),
    ...(spawnSync('git', ['ls-files', 'charts'], { cwd: repoRoot, encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((f) => join(repoRoot, f))),
  ]
  // Metric-shaped names only (config keys like data.toolgate_config are not metrics).
  const metricName = /\btoolgate_[a-z_]*?(?:_total|_seconds|_bytes|_info|_ready|_open|_pending|_entries|_connections)(?:_bucket|_sum|_count)?\b/g
  let seen = 0
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(metricName)) {
      const name = m[0].replace(/_(bucket|sum|count)$/, (s) => (m[0] in METRICS ? s : ''))
      const known = name in METRICS || m[0] in METRICS || processNames.has(m[0]) || processNames.has(name)
      t.ok(known, `${m[0]} (${f.slice(repoRoot.length)}) is a declared metric`)
      seen++
    }
  }
  t.ok(seen > 20, `the docs mention metrics (${seen} mentions checked)`)
})
