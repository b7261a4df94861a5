// The shape of bench/results/suite.json (kept stable for regression tracking: add fields, do not
// rename them) and the targets evaluated against a run.

export interface ScenarioResult {
  name: string
  description: string
  baseline: string | null
  toolgate: boolean
  skipped?: string
  notes?: string
  ready_ms?: number
  fixed_rate?: {
    offered_rps: number
    achieved_rps: number
    sent: number
    errors: number
    statuses: Record<string, number>
    latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
    generator_lag_ms: { p99: number; max: number }
    cpu_us_per_request: number
    rss_mib_peak: number
  }
  max_throughput?: { rps: number; requests: number; errors: number; cpu_us_per_request: number | null }
  rss_mib_peak?: number
  added_ms?: { p50: number; p99: number; p999: number }
}

export interface TargetResult {
  target: string
  scenario: string
  value: number | null
  limit: number
  unit: string
  met: boolean | null
}

export interface SuiteResult {
  bench: 'suite'
  when: string
  node: string
  machine: { cpus: number; cpu_model: string; mem_gib: number; loadavg_before: number[]; loadavg_after: number[] }
  settings: { rate: number; seconds: number; warmup_seconds: number; max_seconds: number; connections: number; quick: boolean; nginx_workers: number; toolgate_node_args: string; toolgate_runtime: string; toolgate_env: { NODE_OPTIONS: string | null; MALLOC_ARENA_MAX: string | null }; toolgate_bin: string }
  scenarios: ScenarioResult[]
  ready: { median_ms: number; samples_ms: number[] } | null
  targets: TargetResult[]
}

export const LIMITS = { addedP99Ms: 1, throughputVsNginx: 0.6, rssMiB: 80, readyMs: 300 } as const

export function evaluateTargets(s: SuiteResult): TargetResult[] {
  const out: TargetResult[] = []
  const nginx = s.scenarios.find((r) => r.name === 'nginx')
  for (const r of s.scenarios.filter((x) => x.toolgate)) {
    const p99 = r.added_ms?.p99 ?? null
    out.push({ target: `added p99 at ${s.settings.rate} req/s`, scenario: r.name, value: p99, limit: LIMITS.addedP99Ms, unit: 'ms', met: p99 === null ? null : p99 <= LIMITS.addedP99Ms })
    const rss = r.rss_mib_peak ?? null
    out.push({ target: 'RSS under load', scenario: r.name, value: rss, limit: LIMITS.rssMiB, unit: 'MiB', met: rss === null ? null : rss <= LIMITS.rssMiB })
  }
  const tg = s.scenarios.find((r) => r.name === 'toolgate')
  const ratio = tg?.max_throughput && nginx?.max_throughput ? Math.round((tg.max_throughput.rps / nginx.max_throughput.rps) * 1000) / 1000 : null
  out.push({ target: 'max req/s with policy vs nginx without', scenario: 'toolgate', value: ratio, limit: LIMITS.throughputVsNginx, unit: 'ratio', met: ratio === null ? null : ratio >= LIMITS.throughputVsNginx })
  const ready = s.ready?.median_ms ?? null
  out.push({ target: 'ready after start (median of 5)', scenario: 'toolgate', value: ready, limit: LIMITS.readyMs, unit: 'ms', met: ready === null ? null : ready <= LIMITS.readyMs })
  return out
}
