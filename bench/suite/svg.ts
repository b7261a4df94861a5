// The suite's plot: hand-written SVG bar charts (no plotting dependency), one panel each for
// latency percentiles at the fixed rate, maximum throughput and CPU per request, per scenario.
import type { ScenarioResult, SuiteResult } from './results.ts'

const W = 900
const ROW = 26
const LEFT = 170
const RIGHT = 90
const COLORS = ['#4c78a8', '#f58518', '#e45756']

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

interface Series { label: string; values: (r: ScenarioResult) => number | null }

function panel(title: string, unit: string, rows: ScenarioResult[], series: Series[], y0: number): { svg: string; height: number } {
  const groupH = ROW * series.length + 10
  const height = 40 + rows.length * groupH + 20
  const max = Math.max(1e-9, ...rows.flatMap((r) => series.map((s) => s.values(r) ?? 0)))
  const scale = (W - LEFT - RIGHT) / max
  const parts: string[] = [`<text x="10" y="${y0 + 20}" font-size="15" font-weight="bold">${esc(title)}</text>`]
  series.forEach((s, i) => {
    parts.push(`<rect x="${W - 300 + i * 95}" y="${y0 + 8}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${W - 284 + i * 95}" y="${y0 + 19}" font-size="12">${esc(s.label)}</text>`)
  })
  rows.forEach((r, gi) => {
    const gy = y0 + 36 + gi * groupH
    parts.push(`<text x="${LEFT - 8}" y="${gy + (ROW * series.length) / 2 + 4}" font-size="12" text-anchor="end">${esc(r.name)}</text>`)
    series.forEach((s, i) => {
      const v = s.values(r)
      const y = gy + i * ROW
      if (v === null) {
        parts.push(`<text x="${LEFT + 4}" y="${y + 16}" font-size="11" fill="#888">n/a</text>`)
        return
      }
      const w = Math.max(1, v * scale)
      parts.push(`<rect x="${LEFT}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW - 6}" fill="${COLORS[i % COLORS.length]}"/>`)
      parts.push(`<text x="${(LEFT + w + 4).toFixed(1)}" y="${y + 17}" font-size="11">${v < 10 ? v.toFixed(3) : Math.round(v)} ${esc(unit)}</text>`)
    })
  })
  return { svg: parts.join('\n'), height }
}

export function renderSvg(s: SuiteResult): string {
  const rows = s.scenarios.filter((r) => r.fixed_rate && !r.skipped)
  const lat = panel(`Latency at ${s.settings.rate} req/s (open loop)`, 'ms', rows, [
    { label: 'p50', values: (r) => r.fixed_rate?.latency_ms.p50 ?? null },
    { label: 'p99', values: (r) => r.fixed_rate?.latency_ms.p99 ?? null },
    { label: 'p99.9', values: (r) => r.fixed_rate?.latency_ms.p999 ?? null },
  ], 40)
  const thr = panel('Maximum throughput (closed loop)', 'req/s', rows, [{ label: 'req/s', values: (r) => r.max_throughput?.rps ?? null }], 40 + lat.height)
  const cpu = panel(`CPU per request at ${s.settings.rate} req/s`, 'µs', rows, [{ label: 'µs/req', values: (r) => r.fixed_rate?.cpu_us_per_request ?? null }], 40 + lat.height + thr.height)
  const height = 40 + lat.height + thr.height + cpu.height + 30
  const skipped = s.scenarios.filter((r) => r.skipped).map((r) => `${r.name}: ${r.skipped}`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height + skipped.length * 14}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="13">${esc(`toolgate benchmark suite, ${s.when}, node ${s.node}, ${s.machine.cpus} CPUs, load avg ${s.machine.loadavg_before.join(' ')}`)}</text>
${lat.svg}
${thr.svg}
${cpu.svg}
${skipped.map((t, i) => `<text x="10" y="${height + i * 14}" font-size="11" fill="#888">skipped ${esc(t.slice(0, 140))}</text>`).join('\n')}
</svg>
`
}
