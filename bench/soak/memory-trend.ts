// The soak's "memory keeps growing" rule, as pure functions so tests can feed it known series.
//
// Rule (issue 20): after warm-up, the RSS and the V8 heap in use must not grow faster than
// `maxSlopeMiBPerMin` (0.1 MiB/min: 144 MiB a day, where the filed leak was 0.9 MiB/min). A
// short run cannot resolve 0.1 MiB/min against its own noise, so the bound it applies is the
// larger of that and the slope its noise could fake; the verdict reports that bound, so nobody
// reads a 20 s pass as a 30 min one.
//
//   - Warm-up: the first third of the run, at most `maxWarmupS` (5 min): JIT, pools, caches
//     and the heap settling to its working size all grow memory legitimately.
//   - The floor, not the samples: the window is cut into equal blocks of at least `minBlockS`
//     (30 s), `minBlocks`..`blocks` (8..16) of them, and each block's minimum is taken. GC
//     sawtooth (a cycle shorter than a block) and transient spikes sit above the floor; a leak
//     raises it. A longer GC cycle shows as floor noise and so widens the bound.
//   - Slope: Theil-Sen (median of pairwise slopes) of the block minima, robust to a one-off step
//     or an outlier block.
//   - Noise: sigma = 1.4826 x MAD of the minima's residuals around that line. The bound is
//     max(maxSlope, z x sigma / window-minutes): growth of z sigma across the whole window is
//     what noise alone cannot produce. A window too short for 8 blocks of 30 s (under 4 min)
//     cannot see a GC cycle's floor at all, so there growth under 8 MiB across the window is
//     not judged either (measured: heap +7 MiB over the 13 s window of the 20 s CI soak, flat
//     noise, the young generation filling).
//   - Judged: heap used always; RSS only on runs of at least `minRssRunS` (60 s): in a shorter
//     run the allocator and V8's heap sizing are still settling (measured: +35 MiB RSS over
//     seconds 7-23 of a 20 s run on a loaded machine, heap in use flat). external,
//     heap_total, array_buffers, wasm and native (RSS - heap_total - external) are reported
//     (which series grew) but not judged on their own: they are parts of RSS.
// A window shorter than `minWindowS` (10 s) or with fewer than 8 samples gives "insufficient"
// (reported, not a failure).

export interface MemorySample {
  t_s: number
  rss_mib: number
  heap_used_mib: number
  /** Diagnostics (reported, not judged): V8 heap committed, memory outside the V8 heap (Buffers, WASM). */
  heap_total_mib?: number
  external_mib?: number
  array_buffers_mib?: number
  /** Policy WASM linear memories not yet collected. */
  wasm_mib?: number
}

export interface TrendOptions {
  /** The slope bound a long run must hold, MiB/min. */
  maxSlopeMiBPerMin: number
  /** Noise multiplier for the bound a short run can resolve. */
  z: number
  /** Most blocks the window is cut into (their minima are the floor). */
  blocks: number
  /** Fewest blocks, even when they are shorter than minBlockS. */
  minBlocks: number
  /** Shortest block, s (longer than a busy process's GC cycle). */
  minBlockS: number
  /** When even minBlocks blocks are shorter than minBlockS, growth below this (MiB) across the window is not judged: a GC cycle can be longer than the whole window. */
  shortWindowGrowthMiB: number
  maxWarmupS: number
  minWindowS: number
  minRssRunS: number
}

export const DEFAULT_TREND: TrendOptions = { maxSlopeMiBPerMin: 0.1, z: 3, blocks: 16, minBlocks: 8, minBlockS: 30, shortWindowGrowthMiB: 8, maxWarmupS: 300, minWindowS: 10, minRssRunS: 60 }

// heap_total: what V8 committed for its heap. native: RSS - heap_total - external, the part no
// JS-visible counter explains (malloc arenas and fragmentation, code, thread stacks, OpenSSL).
export const SERIES = ['rss', 'heap', 'heap_total', 'external', 'array_buffers', 'wasm', 'native'] as const
export type SeriesName = (typeof SERIES)[number]

function valueOf(s: MemorySample, name: SeriesName): number | undefined {
  switch (name) {
    case 'rss': return s.rss_mib
    case 'heap': return s.heap_used_mib
    case 'heap_total': return s.heap_total_mib
    case 'external': return s.external_mib
    case 'array_buffers': return s.array_buffers_mib
    case 'wasm': return s.wasm_mib
    case 'native': return s.heap_total_mib === undefined || s.external_mib === undefined ? undefined : s.rss_mib - s.heap_total_mib - s.external_mib
  }
}

export interface SeriesTrend {
  /** Theil-Sen slope of the block minima. */
  slope_mib_per_min: number
  /** Robust sigma of the floor around its line. */
  noise_mib: number
  /** The bound applied: max(maxSlope, z x noise / window minutes). */
  bound_mib_per_min: number
  /** Floor growth the line predicts across the window. */
  fitted_growth_mib: number
  growing: boolean
}

export interface TrendVerdict {
  verdict: 'ok' | 'growing' | 'insufficient'
  window_s: [number, number]
  samples: number
  rss: SeriesTrend | null
  heap: SeriesTrend | null
  /** Every sampled series, judged or not. */
  series: Partial<Record<SeriesName, SeriesTrend>>
  /** Series whose floor grew faster than their bound (judged or not): where to look. */
  grew: SeriesName[]
  rule: string
}

/** Least-squares slope of y over x (units of y per unit of x). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

function median(v: number[]): number {
  if (v.length === 0) return 0
  const s = [...v].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Theil-Sen slope and intercept (median of pairwise slopes; O(n^2), n is the block count). */
export function theilSen(xs: number[], ys: number[]): { slope: number; intercept: number } {
  const slopes: number[] = []
  for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) if (xs[j] !== xs[i]) slopes.push((ys[j]! - ys[i]!) / (xs[j]! - xs[i]!))
  const b = median(slopes)
  return { slope: b, intercept: median(xs.map((x, i) => ys[i]! - b * x)) }
}

/** Each block's minimum, at the block's midpoint (the floor under GC sawtooth). */
export function blockMinima(xs: number[], ys: number[], blocks: number): { xs: number[]; ys: number[] } {
  const k = Math.max(2, Math.min(blocks, xs.length))
  const x0 = xs[0]!
  const span = xs[xs.length - 1]! - x0 || 1
  const mins: number[] = new Array(k).fill(Infinity)
  for (let i = 0; i < xs.length; i++) {
    const b = Math.min(k - 1, Math.floor(((xs[i]! - x0) / span) * k))
    if (ys[i]! < mins[b]!) mins[b] = ys[i]!
  }
  const out = { xs: [] as number[], ys: [] as number[] }
  for (let b = 0; b < k; b++) if (mins[b] !== Infinity) { out.xs.push(x0 + ((b + 0.5) * span) / k); out.ys.push(mins[b]!) }
  return out
}

export function seriesTrend(xs: number[], ys: number[], o: TrendOptions = DEFAULT_TREND): SeriesTrend {
  const spanS = xs[xs.length - 1]! - xs[0]!
  const floor = blockMinima(xs, ys, Math.max(o.minBlocks, Math.min(o.blocks, Math.floor(spanS / o.minBlockS))))
  const fit = theilSen(floor.xs, floor.ys)
  const residuals = floor.xs.map((x, i) => floor.ys[i]! - (fit.intercept + fit.slope * x))
  const sigma = 1.4826 * median(residuals.map((r) => Math.abs(r - median(residuals))))
  const windowMin = spanS / 60
  const perMin = fit.slope * 60
  const short = spanS / o.minBlocks < o.minBlockS
  const bound = Math.max(o.maxSlopeMiBPerMin, windowMin > 0 ? (o.z * sigma) / windowMin : Infinity, short && windowMin > 0 ? o.shortWindowGrowthMiB / windowMin : 0)
  const r = (v: number): number => Math.round(v * 1000) / 1000
  return { slope_mib_per_min: r(perMin), noise_mib: r(sigma), bound_mib_per_min: r(bound), fitted_growth_mib: r(perMin * windowMin), growing: perMin > bound }
}

/** Samples after runSeconds (the soak's closing rewrites) are not part of the run. */
export function memoryVerdict(samples: MemorySample[], runSeconds: number, o: TrendOptions = DEFAULT_TREND): TrendVerdict {
  const from = Math.min(runSeconds / 3, o.maxWarmupS)
  const window = samples.filter((s) => s.t_s >= from && s.t_s <= runSeconds)
  const rule = `leak if, after warm-up (first third of the run, at most ${o.maxWarmupS} s), the Theil-Sen slope of the floor (minimum of each of ${o.minBlocks}-${o.blocks} blocks of >= ${o.minBlockS} s) of heap used (and of RSS, on runs >= ${o.minRssRunS} s) exceeds max(${o.maxSlopeMiBPerMin} MiB/min, ${o.z} x floor noise / window minutes); window >= ${o.minWindowS} s and >= 8 samples`
  const span: [number, number] = [window[0]?.t_s ?? from, window[window.length - 1]?.t_s ?? runSeconds]
  if (window.length < 8 || span[1] - span[0] < o.minWindowS) return { verdict: 'insufficient', window_s: span, samples: window.length, rss: null, heap: null, series: {}, grew: [], rule }
  const series: Partial<Record<SeriesName, SeriesTrend>> = {}
  for (const name of SERIES) {
    const pts = window.filter((s) => valueOf(s, name) !== undefined)
    if (pts.length >= 8) series[name] = seriesTrend(pts.map((s) => s.t_s), pts.map((s) => valueOf(s, name)!), o)
  }
  const rss = series.rss!
  const heap = series.heap!
  const rssJudged = runSeconds >= o.minRssRunS
  const grew = SERIES.filter((n) => series[n]?.growing)
  return { verdict: (rssJudged && rss.growing) || heap.growing ? 'growing' : 'ok', window_s: span, samples: window.length, rss: { ...rss, growing: rssJudged && rss.growing }, heap, series, grew, rule }
}
