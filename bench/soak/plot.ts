// The soak's memory plot: RSS, V8 heap used and external memory over time as an SVG line chart
// (hand-written, like bench/suite/svg.ts: no plotting dependency), with the warm-up shaded and
// the leak rule's fitted floor line drawn over each judged series.
//
//   node bench/soak/plot.ts REPORT.json OUT.svg
import { readFileSync, writeFileSync } from 'node:fs'
import { memoryVerdict, type MemorySample, type TrendVerdict } from './memory-trend.ts'

const W = 900
const H = 420
const L = 60
const R = 150
const T = 40
const B = 50

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

interface Line { label: string; color: string; value: (s: MemorySample) => number | undefined; trendKey?: 'rss' | 'heap' }

const LINES: Line[] = [
  { label: 'RSS', color: '#4c78a8', value: (s) => s.rss_mib, trendKey: 'rss' },
  { label: 'heap used', color: '#f58518', value: (s) => s.heap_used_mib, trendKey: 'heap' },
  { label: 'external', color: '#54a24b', value: (s) => s.external_mib },
]

export function renderMemorySvg(title: string, samples: MemorySample[], runSeconds: number, verdict: TrendVerdict = memoryVerdict(samples, runSeconds)): string {
  const pts = samples.filter((s) => s.t_s <= runSeconds)
  const tMax = Math.max(1, ...pts.map((s) => s.t_s))
  const yMax = Math.ceil(Math.max(1, ...pts.flatMap((s) => LINES.map((l) => l.value(s) ?? 0))) / 20) * 20
  const x = (t: number): number => L + (t / tMax) * (W - L - R)
  const y = (v: number): number => H - B - (v / yMax) * (H - T - B)
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`]
  // warm-up
  parts.push(`<rect x="${x(0)}" y="${T}" width="${x(verdict.window_s[0]) - x(0)}" height="${H - T - B}" fill="#eee"/><text x="${x(0) + 4}" y="${T + 14}" fill="#777">warm-up</text>`)
  // axes and grid
  for (let v = 0; v <= yMax; v += yMax / 4) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`)
  const step = tMax > 1200 ? 300 : tMax > 300 ? 60 : tMax > 60 ? 30 : 5
  for (let t = 0; t <= tMax; t += step) parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${H - B}" y2="${H - B + 4}" stroke="#333"/><text x="${x(t)}" y="${H - B + 18}" text-anchor="middle">${t >= 120 ? `${t / 60} min` : `${t} s`}</text>`)
  parts.push(`<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">MiB</text>`)
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`)
  LINES.forEach((l, i) => {
    const d = pts.filter((s) => l.value(s) !== undefined).map((s, j) => `${j ? 'L' : 'M'}${x(s.t_s).toFixed(1)},${y(l.value(s)!).toFixed(1)}`).join('')
    parts.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.2"/>`)
    const tr = l.trendKey ? verdict[l.trendKey] : null
    const label = tr ? `${l.label}: ${tr.slope_mib_per_min >= 0 ? '+' : ''}${tr.slope_mib_per_min} MiB/min` : l.label
    parts.push(`<rect x="${W - R + 10}" y="${T + i * 40}" width="12" height="12" fill="${l.color}"/><text x="${W - R + 26}" y="${T + 10 + i * 40}">${esc(l.label)}</text>`)
    if (tr) parts.push(`<text x="${W - R + 26}" y="${T + 25 + i * 40}" fill="#555">${esc(label.slice(l.label.length + 2))} (bound ${tr.bound_mib_per_min})</text>`)
  })
  parts.push(`<text x="${L}" y="${H - 10}" fill="#555">verdict: ${esc(verdict.verdict)}${verdict.grew.length ? `; grew: ${esc(verdict.grew.join(', '))}` : ''}; slopes are of the floor after warm-up (bench/soak/memory-trend.ts)</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output] = process.argv.slice(2)
  if (!input || !output) throw new Error('usage: node bench/soak/plot.ts REPORT.json OUT.svg')
  const r = JSON.parse(readFileSync(input, 'utf8')) as { run_seconds: number; settings: { rate: number; achieved_rate?: number; duration_s: number }; memory: { samples: MemorySample[] } }
  const title = `toolgate soak: ${r.settings.duration_s / 60} min at ${r.settings.rate} req/s (achieved ${r.settings.achieved_rate ?? '?'}), memory over time`
  writeFileSync(output, renderMemorySvg(title, r.memory.samples, r.run_seconds))
}
