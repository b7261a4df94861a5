// The soak's "memory keeps growing" rule, as pure functions so tests can feed it known series.
//
// Rule: ignore the first third of the run (JIT warm-up, pools, caches and the heap settling to
// its working size all grow memory legitimately). Over the remaining two thirds, fit a
// least-squares line to the samples. The run leaks if BOTH
//   - the slope is above `maxSlopeMiBPerMin` (default 10 MiB/min), and
//   - the growth the line predicts across that window is above `minGrowthMiB` (default 8 MiB),
// for RSS or for the V8 heap in use. The two conditions together keep GC sawtooth and one-off
// steps from failing a short run, while a steady leak of a few KiB per request at soak rates
// fails within a minute. A window shorter than `minWindowS` (10 s) or with fewer than 8 samples
// gives "insufficient" (reported, not a failure). RSS is judged only on runs of at least
// `minRssRunS` (60 s): in a shorter run the allocator and V8's heap sizing are still settling
// (measured here: +35 MiB RSS over seconds 7-23 of a 20 s run on a loaded machine, with the heap
// in use flat), so a short run judges the V8 heap in use and reports RSS.

export interface MemorySample {
  t_s: number
  rss_mib: number
  heap_used_mib: number
  /** Diagnostics only (not judged): V8 heap committed, and memory outside the V8 heap (Buffers, WASM). */
  heap_total_mib?: number
  external_mib?: number
  array_buffers_mib?: number
  /** Policy WASM linear memories not yet collected. */
  wasm_mib?: number
}

export interface TrendOptions { maxSlopeMiBPerMin: number; minGrowthMiB: number; minWindowS: number; minRssRunS: number }

export const DEFAULT_TREND: TrendOptions = { maxSlopeMiBPerMin: 10, minGrowthMiB: 8, minWindowS: 10, minRssRunS: 60 }

export interface SeriesTrend { slope_mib_per_min: number; fitted_growth_mib: number; growing: boolean }

export interface TrendVerdict {
  verdict: 'ok' | 'growing' | 'insufficient'
  window_s: [number, number]
  samples: number
  rss: SeriesTrend | null
  heap: SeriesTrend | null
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

function trendOf(xs: number[], ys: number[], o: TrendOptions): SeriesTrend {
  const perSecond = slope(xs, ys)
  const windowS = xs[xs.length - 1]! - xs[0]!
  const perMin = perSecond * 60
  const growth = perSecond * windowS
  const r = (v: number): number => Math.round(v * 100) / 100
  return { slope_mib_per_min: r(perMin), fitted_growth_mib: r(growth), growing: perMin > o.maxSlopeMiBPerMin && growth > o.minGrowthMiB }
}

export function memoryVerdict(samples: MemorySample[], runSeconds: number, o: TrendOptions = DEFAULT_TREND): TrendVerdict {
  const from = runSeconds / 3
  const window = samples.filter((s) => s.t_s >= from)
  const rule = `leak if, over the last 2/3 of the run, the least-squares slope of heap used (and of RSS, on runs >= ${o.minRssRunS} s) is > ${o.maxSlopeMiBPerMin} MiB/min and the fitted growth across that window is > ${o.minGrowthMiB} MiB (window >= ${o.minWindowS} s, >= 8 samples)`
  const span: [number, number] = [window[0]?.t_s ?? from, window[window.length - 1]?.t_s ?? runSeconds]
  if (window.length < 8 || span[1] - span[0] < o.minWindowS) return { verdict: 'insufficient', window_s: span, samples: window.length, rss: null, heap: null, rule }
  const xs = window.map((s) => s.t_s)
  const rss = trendOf(xs, window.map((s) => s.rss_mib), o)
  const heap = trendOf(xs, window.map((s) => s.heap_used_mib), o)
  const rssJudged = runSeconds >= o.minRssRunS
  return { verdict: (rssJudged && rss.growing) || heap.growing ? 'growing' : 'ok', window_s: span, samples: window.length, rss: { ...rss, growing: rssJudged && rss.growing }, heap, rule }
}
