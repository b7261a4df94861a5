// The soak's leak rule (bench/soak/memory-trend.ts) on synthetic series: a leak the size of the
// filed one (0.9 MiB/min) must fail under realistic noise and GC sawtooth, and a flat series with
// the same noise must pass. Property-based (fast-check): the noise, sawtooth, phase and leak are
// drawn, not picked.
import t from 'tap'
import fc from 'fast-check'
import { blockMinima, memoryVerdict, seriesTrend, theilSen, type MemorySample } from '../../bench/soak/memory-trend.ts'

/** Deterministic noise in [-1, 1] from a seed (mulberry32), so a failing case replays. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * 2 - 1
  }
}

interface Shape { seconds: number; noise: number; sawAmp: number; sawPeriod: number; phase: number; seed: number; rssStep: number }

const shape = fc.record({
  seconds: fc.integer({ min: 600, max: 1800 }), // 10-30 min runs, sampled every second
  noise: fc.double({ min: 0, max: 1, noNaN: true }), // MiB, uniform jitter on every sample
  sawAmp: fc.double({ min: 0.5, max: 25, noNaN: true }), // MiB, heap GC sawtooth
  sawPeriod: fc.integer({ min: 2, max: 30 }), // s: a GC cycle up to a block (30 s)
  phase: fc.integer({ min: 0, max: 89 }),
  seed: fc.integer(),
  rssStep: fc.double({ min: 0, max: 6, noNaN: true }), // a one-off RSS step during warm-up
})

function series(s: Shape, leakMiBPerMin: { rss: number; heap: number }): MemorySample[] {
  const r = rng(s.seed)
  const out: MemorySample[] = []
  for (let i = 1; i <= s.seconds; i++) {
    const saw = (((i + s.phase) % s.sawPeriod) / s.sawPeriod) * s.sawAmp
    out.push({
      t_s: i,
      rss_mib: 140 + (i > s.seconds / 6 ? s.rssStep : 0) + (leakMiBPerMin.rss * i) / 60 + s.noise * r() + saw * 0.1,
      heap_used_mib: 30 + (leakMiBPerMin.heap * i) / 60 + s.noise * r() + saw,
    })
  }
  return out
}

t.test('Theil-Sen and block minima on exact lines', async (t) => {
  t.same(theilSen([0, 1, 2, 3], [1, 3, 5, 7]), { slope: 2, intercept: 1 })
  // One wild outlier does not move a robust slope.
  t.equal(theilSen([0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 100, 4, 5, 6]).slope, 1)
  const m = blockMinima([0, 1, 2, 3, 4, 5, 6, 7], [5, 1, 5, 2, 5, 3, 5, 4], 4)
  t.same(m.ys, [1, 2, 3, 4])
})

t.test('a 0.9 MiB/min RSS leak (the filed one) fails, with any noise and sawtooth', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(shape, async (s) => {
    const v = memoryVerdict(series(s, { rss: 0.9, heap: 0 }), s.seconds)
    if (v.verdict !== 'growing' || !v.grew.includes('rss')) throw new Error(`not caught: ${JSON.stringify(v.rss)}`)
  }), { numRuns: 60 }))
})

t.test('a 0.9 MiB/min heap leak fails under a GC sawtooth up to 25 MiB', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(shape, async (s) => {
    const v = memoryVerdict(series(s, { rss: 0, heap: 0.9 }), s.seconds)
    if (v.verdict !== 'growing' || !v.grew.includes('heap')) throw new Error(`not caught: ${JSON.stringify(v.heap)}`)
  }), { numRuns: 60 }))
})

t.test('flat series with noise, sawtooth and a warm-up step pass', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(shape, async (s) => {
    const v = memoryVerdict(series(s, { rss: 0, heap: 0 }), s.seconds)
    if (v.verdict !== 'ok') throw new Error(`false alarm: ${JSON.stringify(v.series)}`)
  }), { numRuns: 60 }))
})

t.test('a 30 min run holds 0.1 MiB/min: 0.2 fails, 0.05 passes (low noise)', async (t) => {
  const s: Shape = { seconds: 1800, noise: 0.3, sawAmp: 8, sawPeriod: 20, phase: 3, seed: 7, rssStep: 2 }
  const slow = memoryVerdict(series(s, { rss: 0.2, heap: 0 }), 1800)
  t.equal(slow.verdict, 'growing', JSON.stringify(slow.rss))
  t.equal(slow.rss?.bound_mib_per_min, 0.1, 'a 30 min run resolves the full bound')
  t.equal(memoryVerdict(series(s, { rss: 0.05, heap: 0.05 }), 1800).verdict, 'ok')
})

t.test('a short run reports the bound its noise allows, and RSS only counts from 60 s', async (t) => {
  const noisy = Array.from({ length: 20 }, (_, i) => ({ t_s: i + 1, rss_mib: 100 + i * 2, heap_used_mib: 30 + (i % 4) * 3 }))
  const v = memoryVerdict(noisy, 20)
  t.equal(v.verdict, 'ok', 'RSS settling in a 20 s run is reported, not judged')
  t.ok(v.grew.includes('rss'), 'but named as the series that grew')
  t.ok(v.heap!.bound_mib_per_min > 0.1, `a 13 s window cannot resolve 0.1 MiB/min (bound ${v.heap!.bound_mib_per_min})`)
  const heapLeak = Array.from({ length: 20 }, (_, i) => ({ t_s: i + 1, rss_mib: 100, heap_used_mib: 20 + i }))
  t.equal(memoryVerdict(heapLeak, 20).verdict, 'growing', '60 MiB/min of heap fails even in 20 s')
  t.equal(memoryVerdict(noisy.slice(0, 5), 5).verdict, 'insufficient')
  const flat = (span: number) => Array.from({ length: 11 }, (_, i) => (i * span) / 10)
  t.equal(seriesTrend(flat(600), flat(600).map(() => 1)).bound_mib_per_min, 0.1, 'a flat 10 min window holds the full bound')
  t.equal(seriesTrend(flat(120), flat(120).map(() => 1)).bound_mib_per_min, 4, 'a 2 min window does not judge growth under 8 MiB (a GC cycle may be longer than it)')
})
