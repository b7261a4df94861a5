// The suite's result as a plain-text table (stdout).
import type { SuiteResult } from './results.ts'

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')
}

const f = (n: number | null | undefined, d = 2): string => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d))

export function renderTable(s: SuiteResult): string {
  const head = ['scenario', 'vs', 'p50 ms', 'p99 ms', 'p99.9 ms', '+p50', '+p99', '+p99.9', 'errors', 'max req/s', 'cpu us/req', 'RSS MiB', 'ready ms']
  const rows = [head]
  const skipped: string[] = []
  for (const r of s.scenarios) {
    if (r.skipped || !r.fixed_rate) { skipped.push(`  ${r.name}: skipped: ${r.skipped}`); continue }
    const l = r.fixed_rate.latency_ms
    rows.push([r.name, r.baseline ?? '(base)', f(l.p50, 3), f(l.p99, 3), f(l.p999, 3), f(r.added_ms?.p50, 3), f(r.added_ms?.p99, 3), f(r.added_ms?.p999, 3),
      String(r.fixed_rate.errors + (r.max_throughput?.errors ?? 0)), f(r.max_throughput?.rps, 0), f(r.fixed_rate.cpu_us_per_request, 1), f(r.rss_mib_peak, 1), r.ready_ms !== undefined ? String(r.ready_ms) : '-'])
  }
  const t = s.settings
  const lines = [
    `toolgate benchmark suite - ${s.when} - node ${s.node} - ${s.machine.cpus} CPUs (${s.machine.cpu_model}), load avg before ${s.machine.loadavg_before.join(' ')}`,
    `toolgate: ${t.toolgate_bin}${t.toolgate_node_args ? ` with ${t.toolgate_node_args}` : ''}, runtime ${t.toolgate_runtime} (NODE_OPTIONS=${t.toolgate_env.NODE_OPTIONS ?? '-'}, MALLOC_ARENA_MAX=${t.toolgate_env.MALLOC_ARENA_MAX ?? '-'}); nginx: ${t.nginx_workers} worker(s)`,
    `fixed rate ${t.rate} req/s for ${t.seconds} s (after ${t.warmup_seconds} s warm-up), ${t.connections} connections; max throughput closed-loop for ${t.max_seconds} s; +pXX = added vs the baseline in "vs"`,
    '',
    pad(rows),
    ...(skipped.length ? ['', ...skipped] : []),
    '',
    'targets:',
    ...s.targets.map((x) => `  ${x.met === null ? 'n/a ' : x.met ? 'MET ' : 'MISS'}  ${x.target} [${x.scenario}]: ${x.value === null ? '-' : x.value} ${x.unit} (limit ${x.unit === 'ratio' ? '>=' : '<='} ${x.limit})`),
  ]
  return lines.join('\n')
}
