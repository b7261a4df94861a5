// Open-loop load generator: sends requests at a fixed rate whatever the latency (issuing never
// waits for a response, so a slow server cannot slow the offered load: no coordinated omission),
// and a closed-loop maximum-throughput driver. Latencies are kept in full (rate x duration
// samples) and reported as percentiles.
//
// Scheduling: a 1 ms timer issues every request that is due (catching up in a burst when the
// timer fires late). An earlier version spun on setImmediate, which is exact but burns a whole
// core; on the 2-core machines this runs on that core is taken from the server being measured.
// Each latency is measured from the moment the request is handed to undici (after that, any
// queueing - in undici's pool, the kernel or the server - is counted). The generator's own lag
// (how late requests were issued against the schedule) is reported as `lagMs`, so a run where
// the generator could not keep up is visible instead of silently offering less load.
import { Pool, type Dispatcher } from 'undici'
import { readFile } from 'node:fs/promises'

export interface LoadOptions {
  origin: string
  path: string
  method?: string
  headers?: Record<string, string>
  body?: string
  rate: number
  durationMs: number
  connections: number
  warmupMs?: number
  /** Dispatcher to send through (e.g. a ProxyAgent for CONNECT); default a Pool on `origin`. */
  dispatcher?: () => Dispatcher
}

export interface Percentiles { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }

export interface LoadResult {
  sent: number
  ok: number
  errors: number
  statuses: Record<string, number>
  achievedRate: number
  latencyMs: Percentiles
  /** How late the generator issued requests against the schedule. */
  lagMs: { p99: number; max: number }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]!
}

export function summarize(samples: Float64Array): Percentiles {
  const sorted = samples.slice().sort()
  let sum = 0
  for (const v of sorted) sum += v
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted[sorted.length - 1] ?? NaN, mean: sum / sorted.length }
}

/** Rounded to 3 decimals, as every benchmark reports its numbers. */
export const r3 = (n: number): number => Math.round(n * 1000) / 1000

type Tail = Pick<Percentiles, 'p50' | 'p99' | 'p999'>

/** Latency a scenario adds over its baseline, percentile by percentile (ms, rounded). */
export function addedLatency(scenario: Tail, baseline: Tail): { p50: number; p99: number; p999: number } {
  return { p50: r3(scenario.p50 - baseline.p50), p99: r3(scenario.p99 - baseline.p99), p999: r3(scenario.p999 - baseline.p999) }
}

/** Scenario latency as a multiple of its baseline's. */
export function latencyRatio(scenario: Tail, baseline: Tail): { p50: number; p99: number } {
  return { p50: r3(scenario.p50 / baseline.p50), p99: r3(scenario.p99 / baseline.p99) }
}

function requestOptions(o: Omit<LoadOptions, 'rate'>): Dispatcher.RequestOptions {
  return { origin: o.origin, path: o.path, method: (o.method ?? 'GET') as Dispatcher.HttpMethod, headers: o.headers, body: o.body }
}

async function phase(dispatcher: Dispatcher, o: LoadOptions, durationMs: number): Promise<LoadResult> {
  const total = Math.max(1, Math.floor((o.rate * durationMs) / 1000))
  const latencies = new Float64Array(total)
  const lags = new Float64Array(total)
  const statuses: Record<string, number> = {}
  const opts = requestOptions(o)
  let done = 0
  let errors = 0
  let ok = 0
  const start = performance.now()
  const interval = 1000 / o.rate
  await new Promise<void>((resolve) => {
    let issued = 0
    const tick = (): void => {
      const now = performance.now()
      while (issued < total && start + issued * interval <= now) {
        const index = issued++
        const sentAt = performance.now()
        lags[index] = sentAt - (start + index * interval)
        dispatcher.request(opts)
          .then(async (res) => {
            await res.body.dump()
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
            if (res.statusCode < 400) ok++
            else errors++
          }, (err: Error & { code?: string }) => {
            errors++
            const key = `error:${err.code ?? err.name}`
            statuses[key] = (statuses[key] ?? 0) + 1
          })
          .finally(() => {
            latencies[index] = performance.now() - sentAt
            if (++done === total) resolve()
          })
      }
      if (issued < total) setTimeout(tick, 1)
    }
    tick()
  })
  const elapsed = performance.now() - start
  const lag = summarize(lags)
  return { sent: total, ok, errors, statuses, achievedRate: total / (elapsed / 1000), latencyMs: summarize(latencies), lagMs: { p99: lag.p99, max: lag.max } }
}

function makeDispatcher(o: Omit<LoadOptions, 'rate'>): Dispatcher {
  return o.dispatcher ? o.dispatcher() : new Pool(o.origin, { connections: o.connections, pipelining: 1 })
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const dispatcher = makeDispatcher(o)
  try {
    if (o.warmupMs) await phase(dispatcher, o, o.warmupMs)
    return await phase(dispatcher, o, o.durationMs)
  } finally {
    await dispatcher.close()
  }
}

/** Closed-loop maximum throughput: `connections` workers each sending back to back for durationMs.
 * Latencies are kept too (bounded: at most 2M samples), for the tail at saturation. */
export async function maxThroughput(o: Omit<LoadOptions, 'rate'>): Promise<{ rps: number; errors: number; requests: number; latencyMs: Percentiles }> {
  const dispatcher = makeDispatcher(o)
  const opts = requestOptions(o)
  const deadline = performance.now() + o.durationMs
  const latencies = new Float64Array(2_000_000)
  let count = 0
  let errors = 0
  let samples = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const sentAt = performance.now()
      try {
        const res = await dispatcher.request(opts)
        await res.body.dump()
        if (res.statusCode >= 400) errors++
        count++
      } catch { errors++ }
      if (samples < latencies.length) latencies[samples++] = performance.now() - sentAt
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: o.connections }, worker))
  const rps = count / ((performance.now() - started) / 1000)
  await dispatcher.close()
  return { rps, errors, requests: count, latencyMs: summarize(latencies.subarray(0, samples)) }
}

/** RSS of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}
