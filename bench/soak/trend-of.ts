// Re-applies the leak rule (memory-trend.ts) to saved soak reports and prints one row per run
// and series: floor slope, the bound the run could resolve, noise, and whether it grew. Used to
// compare one-source-at-a-time soaks (run.ts --only ...) side by side.
//
//   node bench/soak/trend-of.ts report.json [report.json ...]
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { memoryVerdict, type MemorySample } from './memory-trend.ts'

interface Report { settings: { sources?: string[]; rate: number; achieved_rate?: number; reload_every_s: number }; run_seconds: number; requests: { sent: number; wrong: number }; memory: { samples: MemorySample[]; live_objects?: Record<string, number>[] } }

process.stdout.write('run                 sources            req/s (achieved)  series          slope  bound  noise  grew   fitted floor growth MiB\n')
for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Report
  const v = memoryVerdict(r.memory.samples, r.run_seconds)
  for (const [name, tr] of Object.entries(v.series)) {
    const span = `${tr.fitted_growth_mib >= 0 ? '+' : ''}${tr.fitted_growth_mib} over ${Math.round(v.window_s[1] - v.window_s[0])} s`
    process.stdout.write(`${basename(file).padEnd(19)} ${(r.settings.sources ?? ['all']).join(',').slice(0, 18).padEnd(18)} ${`${r.settings.rate} (${r.settings.achieved_rate ?? '?'})`.padEnd(17)} ${name.padEnd(14)} ${tr.slope_mib_per_min.toFixed(3).padStart(6)} ${tr.bound_mib_per_min.toFixed(3).padStart(6)} ${tr.noise_mib.toFixed(2).padStart(6)}  ${tr.growing ? 'YES' : 'no '}   ${span}\n`)
  }
  const live = r.memory.live_objects?.[r.memory.live_objects.length - 1]
  if (live) process.stdout.write(`${''.padEnd(19)} live objects at the end: ${JSON.stringify({ ...live, t_s: undefined })}\n`)
}
