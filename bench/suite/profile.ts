// Profiles toolgate under load: starts it with `node --cpu-prof`, drives closed-loop load
// through the plain-HTTP allow scenario for --seconds, stops it (the profile is written on exit)
// and prints where the time went: self time per function (file:line function) and per file,
// as % of all samples. The raw .cpuprofile stays in --out for Chrome DevTools / speedscope.
//   node bench/suite/profile.ts [--seconds 10] [--connections 32] [--top 25] [--bin dist/bin/toolgate.js] [--rate 200]
// --rate N profiles open-loop load at N req/s instead of saturation (e.g. --rate 200 --connections 4,
// the agent-like rate of issue 19) and reports CPU µs per call from the process's own CPU time.
// --seconds 0 profiles start-up (and shutdown) only.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { maxThroughput, runLoad } from '../lib/loadgen.ts'
import { cpuSeconds } from '../lib/procstat.ts'
import { repoRoot, startChild } from '../lib/processes.ts'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { plainConfig } from './scenarios.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, top: { type: 'string', default: '25' }, bin: { type: 'string', default: 'bin/toolgate.js' }, rate: { type: 'string' }, out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'profile') } } })

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: CpuNode[]; samples: number[]; timeDeltas: number[] }

const dir = mkdtempSync(join(tmpdir(), 'toolgate-prof-'))
const out = values.out!
mkdirSync(out, { recursive: true })
const upstream = await startChild(process.execPath, ['bench/lib/upstream-server.ts'], /listening (\d+)/)
const tg = await startToolgateProcess(dir, plainConfig(Number(upstream.ready[1]), `${dir}/records.jsonl`), { configName: 'cfg/toolgate.yaml', nodeArgs: ['--cpu-prof', '--cpu-prof-dir', out], bin: values.bin! })
const before = new Set(readdirSync(out))
const load = { origin: tg.proxyUrl, path: '/t/bench/v1/items/42', connections: Number(values.connections), durationMs: Number(values.seconds) * 1000 }
const cpu0 = cpuSeconds([tg.pid])
const r = values.rate
  ? await runLoad({ ...load, rate: Number(values.rate) }).then((x) => ({ rps: x.achievedRate, errors: x.errors, requests: x.sent }))
  : await maxThroughput(load)
const cpuPerCall = r.requests ? ((cpuSeconds([tg.pid]) - cpu0) / r.requests) * 1e6 : NaN
await tg.stop()
await upstream.stop()
const file = readdirSync(out).filter((f) => f.endsWith('.cpuprofile') && !before.has(f)).sort().pop()
if (!file) throw new Error('no .cpuprofile was written')
const prof = JSON.parse(readFileSync(join(out, file), 'utf8')) as CpuProfile

// Self time per node from the sample stream (timeDeltas are µs between samples).
const self = new Map<number, number>()
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const byFn = new Map<string, number>()
const byFile = new Map<string, number>()
for (const n of prof.nodes) {
  const t = self.get(n.id) ?? 0
  if (!t) continue
  const url = n.callFrame.url.startsWith('file://') ? relative(repoRoot, new URL(n.callFrame.url).pathname) : n.callFrame.url || '(native)'
  const fn = `${url}:${n.callFrame.lineNumber + 1} ${n.callFrame.functionName || '(anonymous)'}`
  byFn.set(fn, (byFn.get(fn) ?? 0) + t)
  const group = url.startsWith('node_modules/') ? url.split('/').slice(0, url.startsWith('node_modules/@') ? 3 : 2).join('/') : url
  byFile.set(group, (byFile.get(group) ?? 0) + t)
}
const top = Number(values.top)
const pct = (t: number): string => `${((t / total) * 100).toFixed(1).padStart(5)} %`
console.log(`toolgate under ${values.rate ? 'open-loop' : 'closed-loop'} load: ${Math.round(r.rps)} req/s, ${r.errors} errors, ${cpuPerCall.toFixed(0)} µs CPU per call (profiler on), profile ${join(out, file)}`)
console.log('\nself time by function:')
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${k}`)
console.log('\nself time by file / package:')
for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${k}`)

// Where the native and library time comes from: each sample's self time charged to the nearest
// toolgate frame (proxy/src) up its stack, "hot function <- toolgate caller".
const parent = new Map<number, number>()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const nodeById = new Map(prof.nodes.map((n) => [n.id, n]))
const label = (n: CpuNode): string => {
  const url = n.callFrame.url.startsWith('file://') ? relative(repoRoot, new URL(n.callFrame.url).pathname) : n.callFrame.url || '(native)'
  return `${url}:${n.callFrame.lineNumber + 1} ${n.callFrame.functionName || '(anonymous)'}`
}
const hotSet = new Set([...byFn].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k]) => k))
const charged = new Map<string, number>()
for (const [id, t] of self) {
  const n = nodeById.get(id)!
  const hot = label(n)
  if (!hotSet.has(hot) || hot.startsWith('proxy/src/')) continue
  let p = parent.get(id)
  let caller = '(no toolgate frame)'
  const chain: string[] = []
  while (p !== undefined) {
    const pn = nodeById.get(p)!
    const l = label(pn)
    if (chain.length < 3) chain.push(l.replace(/^.*\//, ''))
    if (l.startsWith('proxy/src/')) { caller = l; break }
    p = parent.get(p)
  }
  const key = `${hot}  <-  ${chain.join(' <- ')}  ..  ${caller}`
  charged.set(key, (charged.get(key) ?? 0) + t)
}
console.log('\nhot non-toolgate functions by caller chain (nearest 3 frames .. nearest toolgate frame):')
for (const [k, t] of [...charged].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${k}`)
