// The suite's result as a plain-text table (stdout) and as markdown (bench/results/suite.md):
// the scenarios, the one-core comparison, the policy bench, and every target with met/missed.
import type { SuiteResult, TargetResult } from './results.ts'

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')
}

function markdown(rows: string[][]): string {
  const [head, ...body] = rows
  return [`| ${head!.join(' | ')} |`, `| ${head!.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

const f = (n: number | null | undefined, d = 2): string => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d))

const verdict = (x: TargetResult): string => (x.met === null ? 'n/a' : x.met ? 'met' : 'MISSED')

interface Sections { header: string[]; scenarios: string[][]; skipped: string[]; oneCore: string[][] | null; oneCoreNote: string; policy: string; targets: string[][] }

function sections(s: SuiteResult): Sections {
  const head = ['scenario', 'vs', 'p50 ms', 'p99 ms', 'p99.9 ms', '+p50', '+p99', '+p99.9', `@${s.settings.low_rate ?? 200} +p50`, '+p99', 'cpu us/req', `@${s.settings.low_rate ?? 200} cpu`, 'errors', 'max req/s', 'max p99 ms', 'RSS idle', 'RSS MiB', 'ready ms']
  const scenarios = [head]
  const skipped: string[] = []
  for (const r of s.scenarios) {
    if (r.skipped || !r.fixed_rate) { skipped.push(`${r.name}: skipped: ${r.skipped}`); continue }
    const l = r.fixed_rate.latency_ms
    scenarios.push([r.name, r.baseline ?? '(base)', f(l.p50, 3), f(l.p99, 3), f(l.p999, 3), f(r.added_ms?.p50, 3), f(r.added_ms?.p99, 3), f(r.added_ms?.p999, 3),
      f(r.low_rate_added_ms?.p50, 3), f(r.low_rate_added_ms?.p99, 3), f(r.fixed_rate.cpu_us_per_request, 1), f(r.low_rate?.cpu_us_per_request, 1),
      String(r.fixed_rate.errors + (r.max_throughput?.errors ?? 0) + (r.low_rate?.errors ?? 0)), f(r.max_throughput?.rps, 0), f(r.max_throughput?.latency_ms?.p99, 2), f(r.rss_idle_mib, 1), f(r.rss_mib_peak, 1), r.ready_ms !== undefined ? String(r.ready_ms) : '-'])
  }
  let oneCore: string[][] | null = null
  let oneCoreNote = ''
  if (s.one_core && 'rows' in s.one_core) {
    const o = s.one_core
    oneCoreNote = `one core: proxy + upstream pinned to CPU ${o.proxy_cpu}, load generator on CPU ${o.loadgen_cpu}, closed loop ${o.connections} connections for ${o.seconds} s${o.smokescreen_build_s !== null ? `; smokescreen built in this run (${o.smokescreen_build_s} s)` : ''}`
    oneCore = [['proxy (one core)', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'cpu us/req', 'errors']]
    for (const r of o.rows) oneCore.push(r.skipped ? [r.name, `skipped: ${r.skipped}`, '', '', '', '', ''] : [r.name, f(r.rps, 0), f(r.latency_ms?.p50, 3), f(r.latency_ms?.p99, 3), f(r.latency_ms?.p999, 3), f(r.cpu_us_per_request, 1), String(r.errors ?? 0)])
  } else if (s.one_core) oneCoreNote = `one core: skipped: ${s.one_core.skipped}`
  let policy = ''
  if (s.policy && 'in_process' in s.policy) {
    const p = s.policy
    policy = `policy decision (µs): in process p50 ${f(p.in_process.p50, 1)} p99 ${f(p.in_process.p99, 1)} max ${f(p.in_process.max, 1)} (n ${p.in_process.n}); OPA REST p50 ${f(p.rest_pdp.p50, 1)} p99 ${f(p.rest_pdp.p99, 1)} (n ${p.rest_pdp.n})`
  } else if (s.policy) policy = `policy: skipped: ${s.policy.skipped}`
  const targets = [['', 'target', 'scenario', 'value', 'limit', 'detail']]
  for (const x of s.targets) targets.push([verdict(x), `${x.issue === 19 ? '' : '(earlier) '}${x.target}`, x.scenario, x.value === null ? '-' : `${x.value} ${x.unit}`, `${x.direction} ${x.limit} ${x.unit}`, x.detail ?? ''])
  const t = s.settings
  const header = [
    `toolgate benchmark suite - ${s.when} - node ${s.node} - ${s.machine.cpus} CPUs (${s.machine.cpu_model}), load avg before ${s.machine.loadavg_before.join(' ')}, after ${s.machine.loadavg_after.join(' ')}`,
    `toolgate: ${t.toolgate_bin}${t.toolgate_node_args ? ` with ${t.toolgate_node_args}` : ''}, runtime ${t.toolgate_runtime} (NODE_OPTIONS=${t.toolgate_env.NODE_OPTIONS ?? '-'}, MALLOC_ARENA_MAX=${t.toolgate_env.MALLOC_ARENA_MAX ?? '-'}); nginx: ${t.nginx_workers} worker(s)`,
    `fixed rate ${t.rate} req/s for ${t.seconds} s (after ${t.warmup_seconds} s warm-up), ${t.connections} connections; then ${t.low_rate ?? '-'} req/s over ${t.low_rate_connections ?? '-'} connections for ${t.seconds} s; max throughput closed-loop for ${t.max_seconds} s; +pXX = added vs the baseline in "vs"`,
  ]
  return { header, scenarios, skipped, oneCore, oneCoreNote, policy, targets }
}

export function renderTable(s: SuiteResult): string {
  const x = sections(s)
  return [
    ...x.header, '',
    pad(x.scenarios),
    ...(x.skipped.length ? ['', ...x.skipped.map((l) => `  ${l}`)] : []),
    ...(x.oneCoreNote ? ['', x.oneCoreNote] : []),
    ...(x.oneCore ? [pad(x.oneCore)] : []),
    ...(x.policy ? ['', x.policy] : []),
    '', 'targets (issue 19 first):',
    pad(x.targets),
  ].join('\n')
}

export function renderMarkdown(s: SuiteResult): string {
  const x = sections(s)
  return [
    '# toolgate benchmark suite', '',
    ...x.header.map((l) => `${l}  `), '',
    '## Targets', '',
    markdown(x.targets), '',
    '## Scenarios', '',
    markdown(x.scenarios), '',
    ...(x.skipped.length ? [...x.skipped.map((l) => `- ${l}`), ''] : []),
    ...(x.oneCoreNote ? ['## One core', '', x.oneCoreNote, ''] : []),
    ...(x.oneCore ? [markdown(x.oneCore), ''] : []),
    ...(x.policy ? ['## Policy', '', x.policy, ''] : []),
  ].join('\n')
}
