// The shape of bench/results/suite.json (kept stable for regression tracking: add fields, do not
// rename them) and the issue's targets evaluated against a run.

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
  /** Open loop at the agent-like rate (default 200 req/s over 4 connections), after the fixed-rate phase. */
  low_rate?: {
    offered_rps: number
    connections: number
    achieved_rps: number
    sent: number
    errors: number
    latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
    cpu_us_per_request: number
  }
  max_throughput?: { rps: number; requests: number; errors: number; cpu_us_per_request: number | null; latency_ms?: { p50: number; p99: number; p999: number; max: number } }
  rss_mib_peak?: number
  /** RSS right after start and one probe call, before any load. */
  rss_idle_mib?: number
  added_ms?: { p50: number; p99: number; p999: number }
  /** Added latency of the low-rate phase against its baseline's low-rate phase. */
  low_rate_added_ms?: { p50: number; p99: number; p999: number }
}

import type { OneCoreResult } from './one-core.ts'

export interface TargetResult {
  target: string
  scenario: string
  value: number | null
  limit: number
  unit: string
  /** Whether value must be at most (<=) or at least (>=) the limit. */
  direction: '<=' | '>='
  met: boolean | null
  /** Where the target comes from: 19 for issue 19's list, null for the suite's earlier ones. */
  issue: number | null
  /** What the value is made of (the two numbers of a ratio or a difference). */
  detail?: string
}

/** Decision latency from bench/policy/run.ts --json (µs), run as part of the suite. */
export interface PolicyBench {
  in_process: { n: number; p50: number; p99: number; max: number }
  rest_pdp: { n: number; p50: number; p99: number; max: number }
  rest_over_in_process: { p50: number; p99: number }
}

export interface SuiteResult {
  bench: 'suite'
  when: string
  node: string
  machine: { cpus: number; cpu_model: string; mem_gib: number; loadavg_before: number[]; loadavg_after: number[] }
  settings: { rate: number; seconds: number; warmup_seconds: number; max_seconds: number; connections: number; quick: boolean; nginx_workers: number; toolgate_node_args: string; toolgate_runtime: string; toolgate_env: { NODE_OPTIONS: string | null; MALLOC_ARENA_MAX: string | null }; toolgate_bin: string; low_rate?: number; low_rate_connections?: number }
  scenarios: ScenarioResult[]
  ready: { median_ms: number; samples_ms: number[] } | null
  one_core?: OneCoreResult | { skipped: string }
  policy?: PolicyBench | { skipped: string }
  targets: TargetResult[]
}

/** Issue 19's targets (benchmarks, side by side in one run). */
export const ISSUE19 = {
  cpuVsFloor: 1.2,
  addedP50OverFloorMs: 0.15,
  addedP99OverFloorMs: 1,
  prefixOverForwardTail: 1.1,
  forwardVsSmokescreen: 1.5,
  policyP99Us: 50,
  policyVsRest: 10,
  rssIdleMiB: 60,
  rssLoadedMiB: 100,
  readyMs: 150,
} as const

/** The suite's earlier targets (kept so a regression against them still shows). */
export const LIMITS = { addedP99Ms: 1, throughputVsNginx: 0.6, rssMiB: 80, readyMs: 300 } as const

const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d
/** An added latency with its sign (+0.5, -1.2), or '-' when missing. */
const signed = (n: number | null | undefined): string => (n == null ? '-' : `${n >= 0 ? '+' : ''}${n}`)

function target(t: Omit<TargetResult, 'met'>): TargetResult {
  const met = t.value === null || !Number.isFinite(t.value) ? null : t.direction === '<=' ? t.value <= t.limit : t.value >= t.limit
  return { ...t, value: t.value === null || !Number.isFinite(t.value) ? null : round(t.value), met }
}

export function evaluateTargets(s: SuiteResult): TargetResult[] {
  const out: TargetResult[] = []
  const by = (name: string): ScenarioResult | undefined => s.scenarios.find((r) => r.name === name && !r.skipped)
  const floor = by('node-proxy')
  const lowRate = s.settings.low_rate ?? 200
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b === 0 ? null : a / b)
  const diff = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null ? null : a - b)

  for (const name of ['toolgate', 'toolgate-forward']) {
    const tg = by(name)
    const lowCpu = ratio(tg?.low_rate?.cpu_us_per_request, floor?.low_rate?.cpu_us_per_request)
    out.push(target({ issue: 19, target: `CPU per call at ${lowRate} req/s vs node-proxy floor`, scenario: name, value: lowCpu, limit: ISSUE19.cpuVsFloor, unit: 'x', direction: '<=', detail: `${tg?.low_rate?.cpu_us_per_request ?? '-'} vs ${floor?.low_rate?.cpu_us_per_request ?? '-'} µs` }))
    const hiCpu = ratio(tg?.fixed_rate?.cpu_us_per_request, floor?.fixed_rate?.cpu_us_per_request)
    out.push(target({ issue: 19, target: `CPU per call at ${s.settings.rate} req/s vs node-proxy floor`, scenario: name, value: hiCpu, limit: ISSUE19.cpuVsFloor, unit: 'x', direction: '<=', detail: `${tg?.fixed_rate?.cpu_us_per_request ?? '-'} vs ${floor?.fixed_rate?.cpu_us_per_request ?? '-'} µs` }))
    const p50 = diff(tg?.low_rate_added_ms?.p50, floor?.low_rate_added_ms?.p50)
    out.push(target({ issue: 19, target: `added p50 at ${lowRate} req/s over the floor's`, scenario: name, value: p50, limit: ISSUE19.addedP50OverFloorMs, unit: 'ms', direction: '<=', detail: `${signed(tg?.low_rate_added_ms?.p50)} vs ${signed(floor?.low_rate_added_ms?.p50)} ms` }))
    const p99 = diff(tg?.low_rate_added_ms?.p99, floor?.low_rate_added_ms?.p99)
    out.push(target({ issue: 19, target: `added p99 at ${lowRate} req/s over the floor's`, scenario: name, value: p99, limit: ISSUE19.addedP99OverFloorMs, unit: 'ms', direction: '<=', detail: `${signed(tg?.low_rate_added_ms?.p99)} vs ${signed(floor?.low_rate_added_ms?.p99)} ms` }))
  }

  // Prefix vs forward: the tail at saturation, on the one-core setup (the issue's) and in the suite's closed loop.
  const oneCore = s.one_core && 'rows' in s.one_core ? s.one_core : null
  const row = (n: string) => oneCore?.rows.find((r) => r.name === n && !r.skipped)
  const pre = row('toolgate-prefix')
  const fwd = row('toolgate-forward')
  out.push(target({ issue: 19, target: 'prefix p99 / forward p99 at saturation, one core', scenario: 'toolgate-prefix', value: ratio(pre?.latency_ms?.p99, fwd?.latency_ms?.p99), limit: ISSUE19.prefixOverForwardTail, unit: 'x', direction: '<=', detail: `${pre?.latency_ms?.p99 ?? '-'} vs ${fwd?.latency_ms?.p99 ?? '-'} ms; ${pre?.rps ?? '-'} vs ${fwd?.rps ?? '-'} req/s (limit: no slower, 10% noise band)` }))
  const sp = by('toolgate')?.max_throughput?.latency_ms?.p99
  const sf = by('toolgate-forward')?.max_throughput?.latency_ms?.p99
  out.push(target({ issue: 19, target: 'prefix p99 / forward p99 at saturation, suite closed loop', scenario: 'toolgate', value: ratio(sp, sf), limit: ISSUE19.prefixOverForwardTail, unit: 'x', direction: '<=', detail: `${sp ?? '-'} vs ${sf ?? '-'} ms` }))
  const smk = row('smokescreen')
  out.push(target({ issue: 19, target: 'forward req/s on one core vs Smokescreen', scenario: 'toolgate-forward', value: ratio(fwd?.rps, smk?.rps), limit: ISSUE19.forwardVsSmokescreen, unit: 'x', direction: '>=', detail: `${fwd?.rps ?? '-'} vs ${smk?.rps ?? '-'} req/s` }))

  const pol = s.policy && 'in_process' in s.policy ? s.policy : null
  out.push(target({ issue: 19, target: 'policy decision p99 in process', scenario: 'policy', value: pol?.in_process.p99 ?? null, limit: ISSUE19.policyP99Us, unit: 'µs', direction: '<=', detail: pol ? `p50 ${round(pol.in_process.p50, 1)} µs, n ${pol.in_process.n}` : undefined }))
  out.push(target({ issue: 19, target: 'OPA REST / in process at p50', scenario: 'policy', value: pol?.rest_over_in_process.p50 ?? null, limit: ISSUE19.policyVsRest, unit: 'x', direction: '>=', detail: pol ? `${round(pol.rest_pdp.p50, 1)} vs ${round(pol.in_process.p50, 1)} µs` : undefined }))
  out.push(target({ issue: 19, target: 'OPA REST / in process at p99', scenario: 'policy', value: pol?.rest_over_in_process.p99 ?? null, limit: ISSUE19.policyVsRest, unit: 'x', direction: '>=', detail: pol ? `${round(pol.rest_pdp.p99, 1)} vs ${round(pol.in_process.p99, 1)} µs` : undefined }))

  const tg = by('toolgate')
  out.push(target({ issue: 19, target: 'RSS idle (after start and one call)', scenario: 'toolgate', value: tg?.rss_idle_mib ?? null, limit: ISSUE19.rssIdleMiB, unit: 'MiB', direction: '<=' }))
  out.push(target({ issue: 19, target: `RSS peak under ${s.settings.rate} req/s`, scenario: 'toolgate', value: tg?.fixed_rate?.rss_mib_peak ?? null, limit: ISSUE19.rssLoadedMiB, unit: 'MiB', direction: '<=' }))
  const ready = s.ready?.median_ms ?? null
  out.push(target({ issue: 19, target: 'ready after start (median of 5)', scenario: 'toolgate', value: ready, limit: ISSUE19.readyMs, unit: 'ms', direction: '<=' }))

  // The suite's earlier targets.
  const nginx = by('nginx')
  for (const r of s.scenarios.filter((x) => x.toolgate && !x.skipped)) {
    out.push(target({ issue: null, target: `added p99 at ${s.settings.rate} req/s`, scenario: r.name, value: r.added_ms?.p99 ?? null, limit: LIMITS.addedP99Ms, unit: 'ms', direction: '<=' }))
    out.push(target({ issue: null, target: 'RSS under load', scenario: r.name, value: r.rss_mib_peak ?? null, limit: LIMITS.rssMiB, unit: 'MiB', direction: '<=' }))
  }
  out.push(target({ issue: null, target: 'max req/s with policy vs nginx without', scenario: 'toolgate', value: ratio(tg?.max_throughput?.rps, nginx?.max_throughput?.rps), limit: LIMITS.throughputVsNginx, unit: 'ratio', direction: '>=' }))
  return out
}
