// Open-loop load generator: sends requests at a fixed rate whatever the latency, and measures
// each from its *scheduled* start, so a slow server cannot hide its queueing (no coordinated
// omission). Latencies are kept in full (rate x duration samples) and reported as percentiles.
import { Pool } from 'undici'

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
}

export interface LoadResult {
  sent: number
  ok: number
  errors: number
  statuses: Record<string, number>
  achievedRate: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]!
}

async function phase(pool: Pool, o: LoadOptions, durationMs: number, record: boolean): Promise<LoadResult> {
  const total = Math.floor((o.rate * durationMs) / 1000)
  const latencies = new Float64Array(total)
  const statuses: Record<string, number> = {}
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
        const scheduled = start + issued * interval
        const index = issued++
        pool.request({ path: o.path, method: (o.method ?? 'GET') as 'GET', headers: o.headers, body: o.body })
          .then(async (res) => {
            await res.body.dump()
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
            if (res.statusCode < 400) ok++
            else errors++
          }, () => { errors++ })
          .finally(() => {
            latencies[index] = performance.now() - scheduled
            if (++done === total) resolve()
          })
      }
      if (issued < total) setImmediate(tick)
    }
    tick()
  })
  const elapsed = performance.now() - start
  const sorted = latencies.slice().sort()
  let sum = 0
  for (const v of sorted) sum += v
  void record
  return {
    sent: total,
    ok,
    errors,
    statuses,
    achievedRate: total / (elapsed / 1000),
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted[sorted.length - 1] ?? NaN, mean: sum / sorted.length },
  }
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(o.origin, { connections: o.connections, pipelining: 1 })
  try {
    if (o.warmupMs) await phase(pool, o, o.warmupMs, false)
    return await phase(pool, o, o.durationMs, true)
  } finally {
    await pool.close()
  }
}

/** Closed-loop maximum throughput: `connections` workers each sending back to back for durationMs. */
export async function maxThroughput(o: Omit<LoadOptions, 'rate'>): Promise<{ rps: number; errors: number }> {
  const pool = new Pool(o.origin, { connections: o.connections, pipelining: 1 })
  const deadline = performance.now() + o.durationMs
  let count = 0
  let errors = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        const res = await pool.request({ path: o.path, method: (o.method ?? 'GET') as 'GET', headers: o.headers, body: o.body })
        await res.body.dump()
        if (res.statusCode >= 400) errors++
        count++
      } catch { errors++ }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: o.connections }, worker))
  const rps = count / ((performance.now() - started) / 1000)
  await pool.close()
  return { rps, errors }
}

/** RSS of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}
