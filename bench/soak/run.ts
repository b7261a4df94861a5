// Soak: toolgate under steady mixed traffic for a bounded time, with config rewrites (good and
// bad), policy bundle swaps (good and bad) and upstream faults, checking every answer.
//
//   node bench/soak/run.ts [--duration 60s] [--rate 200] [--json FILE] [--window 5s]
//                          [--reload-every 2s] [--hostile-reloads] [--connections 128] [--node-args="FLAGS"]
//                          [--only SOURCE,SOURCE...] [--toolgate-bin PATH] [--svg FILE]
//
// --only switches on one source of memory churn at a time (to find which one grows memory):
// traffic (prefix calls: allowed, denied, unknown tool, slow, resets, timeouts), forward
// (absolute-form forward-proxy calls), credentials, mcp, tls (CONNECT to an inspected HTTPS tool:
// kept-alive tunnels, a fresh tunnel per call, a denial inside the tunnel), reloads (config
// rewrites), bundle-swaps. Default: all of them but tls (opt-in, see DEFAULT_SOURCES).
// --hostile-reloads rewrites the config and swaps the bundle every 200 ms (the realistic default
// is every 2 s). Calls beyond 4 x --connections in flight are shed and reported.
//
// Traffic (bench/soak/traffic.ts): allowed, credentialed (static provider; the upstream checks
// the secret), denied by deny rule and by method, unknown tool, MCP tools/call allowed and
// denied (official SDK server), slow upstream answers, upstream resets (-> 502) and upstream
// timeouts (-> 504). Every response is verified; anything else is a wrong answer.
// Memory: the admin /metrics (toolgate_memory_bytes by area, toolgate_live_objects by kind)
// every second; the leak rule is in memory-trend.ts.
// Exit 1 if any answer was wrong, memory keeps growing, or the reloads were not observed.
import { closeSync, copyFileSync, mkdirSync, openSync, readSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as tar from 'tar'
import { Pool } from 'undici'
import { repoRoot, startChild } from '../lib/processes.ts'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { summarize } from '../lib/loadgen.ts'
import { buildMix, picker, type SoakRequest } from './traffic.ts'
import { memoryVerdict, type MemorySample } from './memory-trend.ts'
import { renderMemorySvg } from './plot.ts'
import { startTlsUpstream, tlsClient, type TlsUpstream } from './tls-upstream.ts'
import { SIDECAR_RUNTIME } from '../../proxy/src/inject/settings.ts'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60s' },
    rate: { type: 'string', default: '200' },
    json: { type: 'string' },
    // An SVG plot of RSS, heap used and external memory over time (bench/soak/plot.ts).
    svg: { type: 'string' },
    window: { type: 'string', default: '5s' },
    'reload-every': { type: 'string', default: '2s' },
    connections: { type: 'string', default: '128' },
    only: { type: 'string' },
    'hostile-reloads': { type: 'boolean', default: false },
    // Another toolgate build's bin/toolgate.js (e.g. an older commit exported with git archive),
    // for before/after runs under the same soak. Environment (MALLOC_ARENA_MAX...) is inherited.
    'toolgate-bin': { type: 'string' },
    // Node flags for toolgate (pass as --node-args="..."). Default: the bounded V8 heap the
    // injected sidecar runs with (SIDECAR_RUNTIME, docs/operations.md). Unbounded, V8 sizes its heap from the
    // machine's memory and grows it lazily for minutes, which looks like a leak in RSS and hides
    // real leaks; bounded, a JS leak shows as heap-used growth and then as a crash, and RSS
    // growth means memory outside the heap. --node-args= (empty) runs Node's defaults.
    'node-args': { type: 'string', default: SIDECAR_RUNTIME.nodeOptions },
  },
})

/** "60s", "2m", "1500ms" or a plain number of seconds, in ms. */
function ms(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!m) throw new Error(`not a duration: ${text}`)
  const n = Number(m[1])
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000
}
const durationMs = ms(values.duration!)
const rate = Number(values.rate)
const windowMs = ms(values.window!)
const reloadEveryMs = values['hostile-reloads'] ? 200 : ms(values['reload-every']!)
const SOURCES = ['traffic', 'forward', 'credentials', 'mcp', 'tls', 'reloads', 'bundle-swaps'] as const
type Source = (typeof SOURCES)[number]
// tls is opt-in (name it in --only): on this shared 2-core machine its handshakes (toolgate's
// leaf, the upstream's re-encryption, all ECDSA) at soak rates starve the other traffic.
const DEFAULT_SOURCES = SOURCES.filter((x) => x !== 'tls')
const on: Set<Source> = new Set(values.only === undefined ? DEFAULT_SOURCES : values.only.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
  if (!(SOURCES as readonly string[]).includes(x)) throw new Error(`--only: unknown source ${x} (one of ${SOURCES.join(', ')})`)
  return x as Source
}))
// Bounded by design: the soak is a test, not a load test.
if (!(rate > 0 && rate <= 5000)) throw new Error('--rate must be in (0, 5000]')
if (!(durationMs >= 5000 && durationMs <= 6 * 3_600_000)) throw new Error('--duration must be between 5s and 6h')

const dir = mkdtempSync(join(tmpdir(), 'toolgate-soak-'))
const secret = `soak-secret-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`
const secretFile = join(dir, 'soak-secret')
writeFileSync(secretFile, secret + '\n', { mode: 0o600 })
const node = process.execPath
const up = await startChild(node, ['bench/soak/fault-upstream.ts'], /listening (\d+)/)
const upCred = await startChild(node, ['bench/soak/fault-upstream.ts', '--secret-file', secretFile], /listening (\d+)/)
let mcp: Awaited<ReturnType<typeof startChild>> | null = null
try { mcp = await startChild(node, ['bench/lib/mcp-server.ts'], /listening (\d+)/) } catch (err) { process.stderr.write(`[soak] MCP server unavailable, MCP traffic skipped: ${(err as Error).message.slice(0, 200)}\n`) }

// HTTPS upstream for the tls source (CONNECT, interception with the per-pod CA, re-encryption).
let tlsUp: TlsUpstream | null = null
if (on.has('tls')) {
  try { tlsUp = await startTlsUpstream(dir) } catch (err) { process.stderr.write(`[soak] TLS traffic skipped (no openssl?): ${(err as Error).message.slice(0, 200)}\n`) }
}
const toolgateCaFile = join(dir, 'toolgate-ca.pem')

// Policy bundle: a file source (two revisions of the default bundle, swapped atomically) so
// bundle reloads happen under load. Built from policy/default-bundle.tar.gz with tar.
const bundleDir = join(dir, 'bundles')
const bundleFile = join(dir, 'policy.tar.gz')
let bundles: { good: string[]; bad: string } | null = null
try {
  const src = join(bundleDir, 'src')
  mkdirSync(src, { recursive: true })
  await tar.x({ file: join(repoRoot, 'policy', 'default-bundle.tar.gz'), cwd: src })
  const manifest = JSON.parse(readFileSync(join(src, '.manifest'), 'utf8')) as { revision: string }
  const good: string[] = []
  for (const rev of ['soak-a', 'soak-b']) {
    writeFileSync(join(src, '.manifest'), JSON.stringify({ ...manifest, revision: `${manifest.revision}-${rev}` }))
    const out = join(bundleDir, `${rev}.tar.gz`)
    await tar.c({ gzip: true, file: out, cwd: src, portable: true }, ['.manifest', 'data.json', 'policy.wasm', 'toolgate'])
    good.push(out)
  }
  const bad = join(bundleDir, 'bad.tar.gz')
  writeFileSync(bad, 'this is not a gzip archive')
  copyFileSync(good[0]!, bundleFile)
  bundles = { good, bad }
} catch (err) {
  process.stderr.write(`[soak] bundle reloads skipped: ${(err as Error).message.slice(0, 200)}\n`)
}

// connect_ms 3000: includes the upstream TLS handshake of the tls source, slow when starved.
// policy_eval_ms 1000: the evaluation deadline is wall time; on a machine at load 15-26 a
// process descheduled for 100 ms (the default) denies an allowed call, fail closed, by design
// (24 of 460,000 calls in the first 30 min run, every one "policy evaluation took 101-176 ms").
// The soak judges memory and answers, not the scheduler.
// response_headers_ms 1500: the hanging upstream must get its 504 quickly, but an ordinary call
// starved of CPU on a loaded machine must not (400 ms gave 504s to normal calls at load 12).
function config(rev: number): string {
  return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: info, records: ${join(dir, 'records.jsonl')} }
timeouts: { connect_ms: 3000, response_headers_ms: 1500, policy_eval_ms: 1000 }
${bundles ? `policy: { bundle: ${bundleFile}, poll: { min_delay_ms: 1000, max_delay_ms: 2000 } }\n` : ''}${tlsUp ? `tls:\n  ca: { publish_cert_to: ${toolgateCaFile} }\n  upstream_ca_files: [${tlsUp.caFile}]\n` : ''}credentials:
  soak-static: { type: static, secret_file: ${secretFile} }
tools:
  - name: soak
    description: soak upstream, config revision ${rev}
    match: { scheme: http, host: 127.0.0.1, port: ${up.ready[1]} }
    data_classification: internal
    routes:
      - { methods: [GET], path: "/ok/{n}" }
      - { methods: [GET], path: "/slow/{ms}/{n}" }
      - { methods: [GET], path: "/reset/{n}" }
      - { methods: [GET], path: "/hang/{n}" }
    deny:
      - { path: "/admin/**", reason: the soak never allows admin paths }
  - name: soak-cred
    match: { scheme: http, host: 127.0.0.1, port: ${upCred.ready[1]} }
    data_classification: internal
    credential: { provider: soak-static }
    routes:
      - { methods: [GET], path: "/cred/{n}" }
${tlsUp ? `  - name: soak-tls
    match: { scheme: https, host: localhost, port: ${tlsUp.port} }
    allow_addresses: [127.0.0.1/32]
    data_classification: internal
    routes:
      - { methods: [GET], path: "/tls/ok/{n}" }
    deny:
      - { path: "/tls/admin/**", reason: the soak never allows admin paths }
` : ''}${mcp ? `  - name: mcp
    match: { scheme: http, host: 127.0.0.1, port: ${mcp.ready[1]} }
    data_classification: internal
    mcp:
      path: /mcp
      allow_tools: [echo]
      tool_access: { echo: read }
` : ''}${rev % 2 === 1 ? `  - name: extra-${rev}
    match: { scheme: https, host: extra-${rev}.example.com }
    routes:
      - { methods: [GET], path: /x }
` : ''}`
}
const BAD_CONFIGS = [
  'version: 1\ntools: [\n', // YAML syntax error
  config(0).replace('methods: [GET], path: "/ok/{n}"', 'methods: 5, path: "/ok/{n}"'), // schema error
]

// The config gets a directory of its own, as a mounted ConfigMap does: toolgate watches the
// config file's directory, and a busy file next to it (the records) would keep its debounce
// from ever settling.
mkdirSync(join(dir, 'config'))
// The injected sidecar also runs with MALLOC_ARENA_MAX (SIDECAR_RUNTIME): without it glibc gives
// each worker thread its own arena and RSS steps up with throughput, which the leak rule would
// read as growth that a pod never shows. An explicit MALLOC_ARENA_MAX in the environment wins.
const toolgateEnv: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: process.env['MALLOC_ARENA_MAX'] ?? (SIDECAR_RUNTIME.mallocArenaMax > 0 ? String(SIDECAR_RUNTIME.mallocArenaMax) : undefined) }
const tg = await startToolgateProcess(dir, config(0), { configName: 'config/toolgate.yaml', nodeArgs: values['node-args']!.split(' ').filter(Boolean), env: toolgateEnv, ...(values['toolgate-bin'] ? { bin: values['toolgate-bin'] } : {}) })
const mix = buildMix({ mcp: mcp !== null && on.has('mcp'), traffic: on.has('traffic'), forward: on.has('forward') ? `http://127.0.0.1:${up.ready[1]}` : null, credentials: on.has('credentials'), tls: tlsUp !== null })
const pick = mix.length > 0 ? picker(mix) : null
const tlsOrigin = tlsUp ? `https://localhost:${tlsUp.port}` : ''
const tunnels = tlsUp ? tlsClient(tg.proxyUrl, toolgateCaFile, 16) : null
type Answer = { statusCode: number; body: { text(): Promise<string> }; headers: unknown }
/** One call: through the pool (route-prefix and forward-proxy calls), or through a CONNECT tunnel. */
const send = (req: SoakRequest, extra: { headersTimeout?: number } = {}): Promise<Answer> => req.tunnel && tunnels
  ? tunnels.send(`${tlsOrigin}${req.path}`, req.tunnel === 'fresh').then((r) => ({ statusCode: r.status, body: { text: async () => r.body }, headers: r.headers }))
  : pool.request({ path: req.path, method: req.method, headers: req.headers, body: req.body ?? null, ...extra })
// 30 s client timeouts: a wrong answer is a wrong status or body; a call that toolgate answers
// right after a stall of several seconds (CPU starvation on a shared machine) is not one. Its
// latency shows in the windows.
const pool = new Pool(tg.proxyUrl, { connections: Number(values.connections), pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 })
// Warm-up, before the clock starts: one call of each kind, one at a time, so the lazily loaded
// parts (MCP inspection, the credential provider, the JIT) are in place before the open-loop
// schedule, whose 10 s client timeout a starved first call on a loaded machine could exceed.
for (const [k, entry] of mix.entries()) {
  const req = entry.make(1_000_000_000 + k)
  await send(req, { headersTimeout: 60_000 }).then((res) => res.body.text(), () => '')
}
const started = performance.now()
let crashed: string | null = null
let stopping = false
tg.child.proc.once('exit', (code, signal) => {
  if (stopping) return
  crashed = `toolgate exited (${code ?? signal}) during the soak; last output: ${tg.child.tail().slice(-1500)}`
  process.stderr.write(`[soak] ${crashed}\n`)
})
const elapsedS = (): number => (performance.now() - started) / 1000

// ---- config and bundle rewrites
let configRewrites = { good: 0, bad: 0 }
let bundleSwaps = { good: 0, bad: 0 }
let rev = 0
const writeAtomically = (file: string, text: string | Buffer): void => {
  const tmp = `${file}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
const reloader = setInterval(() => {
  rev++
  // Config: good, good, bad (alternating kinds of bad), ...; the last write is always good.
  if (on.has('reloads')) {
    if (rev % 3 === 0) { writeAtomically(tg.configFile, BAD_CONFIGS[(rev / 3) % BAD_CONFIGS.length]!); configRewrites.bad++ }
    else { writeAtomically(tg.configFile, config(rev)); configRewrites.good++ }
  }
  if (bundles && on.has('bundle-swaps') && rev % 2 === 0) {
    if (rev % 6 === 0) { writeAtomically(bundleFile, readFileSync(bundles.bad)); bundleSwaps.bad++ }
    else { writeAtomically(bundleFile, readFileSync(bundles.good[(rev / 2) % 2]!)); bundleSwaps.good++ }
  }
}, reloadEveryMs)

// ---- memory sampling from the admin /metrics
const memory: MemorySample[] = []
const live: { t_s: number; config_snapshot: number; pool_set: number; upstream_pool: number; policy_instance: number }[] = []
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${tg.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith('toolgate_')) continue
    const i = line.lastIndexOf(' ')
    const key = line.slice(0, i)
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(i + 1)))
  }
  return out
}
const sampler = setInterval(() => {
  const t = elapsedS()
  scrape().then((m) => {
    const rss = m.get('toolgate_process_resident_memory_bytes')
    const heap = m.get('toolgate_nodejs_heap_size_used_bytes')
    const mib = (v: number | undefined): number | undefined => (v === undefined ? undefined : Math.round((v / 2 ** 20) * 100) / 100)
    const total = mib(m.get('toolgate_nodejs_heap_size_total_bytes'))
    const external = mib(m.get('toolgate_nodejs_external_memory_bytes'))
    const area = (a: string): number | undefined => mib(m.get(`toolgate_memory_bytes{area="${a}"}`))
    const arrayBuffers = area('array_buffers')
    const wasm = area('wasm')
    const t_s = Math.round(t * 10) / 10
    if (rss !== undefined && heap !== undefined) {
      memory.push({ t_s, rss_mib: mib(rss)!, heap_used_mib: mib(heap)!, ...(total !== undefined ? { heap_total_mib: total } : {}), ...(external !== undefined ? { external_mib: external } : {}), ...(arrayBuffers !== undefined ? { array_buffers_mib: arrayBuffers } : {}), ...(wasm !== undefined ? { wasm_mib: wasm } : {}) })
    }
    const count = (k: string): number => m.get(`toolgate_live_objects{kind="${k}"}`) ?? -1
    live.push({ t_s, config_snapshot: count('config_snapshot'), pool_set: count('pool_set'), upstream_pool: count('upstream_pool'), policy_instance: count('policy_instance') })
  }, () => {})
}, 1000)

// ---- traffic: open loop at `rate`, every answer verified
// No traffic source switched on: the run still lasts --duration (reloads, swaps, idle).
const total = mix.length === 0 ? 0 : Math.floor((rate * durationMs) / 1000)
const latency = new Float64Array(total)
const sentAt = new Float64Array(total)
const kindOf: string[] = new Array(total)
const byKind: Record<string, { sent: number; right: number; wrong: number }> = {}
const wrongSamples: { i: number; kind: string; t_s: number; why: string }[] = []
let wrong = 0
let secretLeaks = 0
let shed = 0
const maxInFlight = Number(values.connections) * 4
if (total === 0) await new Promise((r) => setTimeout(r, durationMs))
else await new Promise<void>((resolve) => {
  let issued = 0
  let done = 0
  const interval = 1000 / rate
  // Bounded by design: when the machine cannot keep up (2 shared cores), calls due while
  // maxInFlight are outstanding are shed (counted, reported, never sent) instead of queueing
  // without bound in the client, which would stretch a 30 min run by hours and measure the
  // client's queue. The achieved rate is reported with every number.
  const finish = (i: number, kind: string, why: string | null, t0: number): void => {
    latency[i] = performance.now() - t0
    const k = (byKind[kind] ??= { sent: 0, right: 0, wrong: 0 })
    if (why === null) k.right++
    else {
      k.wrong++
      wrong++
      if (wrongSamples.length < 50) wrongSamples.push({ i, kind, t_s: Math.round(((t0 - started) / 1000) * 10) / 10, why })
    }
    if (++done + shed === total) resolve()
  }
  const tick = (): void => {
    const now = performance.now()
    while (issued < total && started + issued * interval <= now) {
      const i = issued++
      if (issued - 1 - done - shed >= maxInFlight) {
        shed++
        kindOf[i] = 'shed'
        sentAt[i] = -1
        if (done + shed === total) resolve()
        continue
      }
      const req = pick!(i).make(i)
      kindOf[i] = req.kind
      ;(byKind[req.kind] ??= { sent: 0, right: 0, wrong: 0 }).sent++
      const t0 = performance.now()
      sentAt[i] = t0 - started
      send(req)
        .then(async (res) => {
          const body = await res.body.text()
          const leaked = body.includes(secret) || JSON.stringify(res.headers).includes(secret)
          if (leaked) secretLeaks++
          finish(i, req.kind, leaked ? 'the credential secret appears in the response' : req.check(res.statusCode, body), t0)
        }, (err: Error & { code?: string }) => finish(i, req.kind, `client error ${err.code ?? err.name}: ${err.message}`, t0))
    }
    if (issued < total) setTimeout(tick, 1)
  }
  tick()
})
const runSeconds = elapsedS()
clearInterval(reloader)
// Leave a good config and bundle in place, give the watchers time to see the last change, then
// read the counters that prove the reloads happened.
writeAtomically(tg.configFile, config(++rev))
if (bundles) writeAtomically(bundleFile, readFileSync(bundles.good[0]!))
await new Promise((r) => setTimeout(r, 2500))
clearInterval(sampler)
const metrics = await scrape().catch(() => new Map<string, number>())
await pool.close()
await tunnels?.close()
await tlsUp?.close()
const crashMessage: string | null = crashed
stopping = true
await tg.stop()
await up.stop()
await upCred.stop()
await mcp?.stop()

// Secrets in the record file or the logs are leaks too.
// Read in chunks: a 30 min run writes ~1 GB of records, more than one string can hold (reading it
// whole failed silently and reported 0 records). Chunks overlap by the secret's length.
let recordCount = 0
let recordsUnreadable: string | null = null
try {
  const fd = openSync(join(dir, 'records.jsonl'), 'r')
  const buf = Buffer.alloc(8 * 2 ** 20)
  let tail = ''
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
    for (let i = buf.indexOf(10); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) recordCount++
    const text = tail + buf.toString('utf8', 0, n)
    if (text.includes(secret)) secretLeaks++
    tail = text.slice(-secret.length)
  }
  closeSync(fd)
} catch (err) { recordsUnreadable = (err as Error).message }

// ---- report
const windows: { from_s: number; to_s: number; requests: number; wrong: number; p50_ms: number; p99_ms: number; rss_mib: number | null; heap_used_mib: number | null }[] = []
const fault = new Set(['slow', 'timeout'])
for (let from = 0; from < durationMs; from += windowMs) {
  const lat: number[] = []
  let count = 0
  for (let i = 0; i < total; i++) {
    if (sentAt[i]! < from || sentAt[i]! >= from + windowMs) continue
    count++
    // Latency over time is for calls whose time toolgate controls: not the deliberately slow
    // or hanging upstream answers.
    if (!fault.has(kindOf[i]!)) lat.push(latency[i]!)
  }
  const w = wrongSamples.filter((s) => s.t_s * 1000 >= from && s.t_s * 1000 < from + windowMs).length
  const s = summarize(Float64Array.from(lat))
  const mem = memory.filter((m) => m.t_s * 1000 >= from && m.t_s * 1000 < from + windowMs).pop() ?? null
  windows.push({ from_s: from / 1000, to_s: (from + windowMs) / 1000, requests: count, wrong: w, p50_ms: Math.round(s.p50 * 100) / 100, p99_ms: Math.round(s.p99 * 100) / 100, rss_mib: mem?.rss_mib ?? null, heap_used_mib: mem?.heap_used_mib ?? null })
}
const series = (prefix: string): Record<string, number> => Object.fromEntries([...metrics].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length) || '_', v]))
const reloads = series('toolgate_config_reloads_total')
const bundleLoads = series('toolgate_policy_bundle_loads_total')
const mem = memoryVerdict(memory, runSeconds)
const failures: string[] = []
if (crashMessage) failures.push(crashMessage)
if (recordsUnreadable) failures.push(`the records file could not be read: ${recordsUnreadable}`)
if (wrong > 0) failures.push(`${wrong} request(s) answered wrongly`)
if (secretLeaks > 0) failures.push('the credential secret leaked into a response or record')
if (mem.verdict === 'growing') failures.push(`memory keeps growing (RSS ${mem.rss?.slope_mib_per_min} MiB/min, bound ${mem.rss?.bound_mib_per_min}; heap ${mem.heap?.slope_mib_per_min} MiB/min, bound ${mem.heap?.bound_mib_per_min}; grew: ${mem.grew.join(', ') || 'none'})`)
const reloadCount = (re: RegExp): number => Object.entries(reloads).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0)
if (configRewrites.good > 0 && reloadCount(/success/) === 0) failures.push('config rewrites were never applied (toolgate_config_reloads_total{result="success"} is 0)')
if (configRewrites.bad > 0 && reloadCount(/failure/) === 0) failures.push('bad config rewrites were never rejected (toolgate_config_reloads_total{result="failure"} is 0)')

const result = {
  soak: true,
  when: new Date().toISOString(),
  settings: { duration_s: durationMs / 1000, rate, sources: [...on], toolgate_bin: values['toolgate-bin'] ?? 'bin/toolgate.js', malloc_arena_max: toolgateEnv['MALLOC_ARENA_MAX'] ?? null, hostile_reloads: values['hostile-reloads'], achieved_rate: Math.round(((total - shed) / runSeconds) * 10) / 10, node_args: values['node-args'], window_s: windowMs / 1000, reload_every_s: reloadEveryMs / 1000, mcp: mcp !== null, bundle_reloads: bundles !== null },
  run_seconds: Math.round(runSeconds * 10) / 10,
  requests: { scheduled: total, sent: total - shed, shed, max_in_flight: maxInFlight, right: total - shed - wrong, wrong, by_kind: byKind },
  wrong_samples: wrongSamples,
  secret_leaks: secretLeaks,
  records: recordCount,
  reloads: { config_rewrites: configRewrites, bundle_swaps: bundleSwaps, config_reloads_total: reloads, policy_bundle_loads_total: bundleLoads },
  latency_overall_ms: (() => { const s = summarize(Float64Array.from(Array.from(latency).filter((_, i) => !fault.has(kindOf[i]!) && kindOf[i] !== 'shed'))); return { p50: Math.round(s.p50 * 100) / 100, p99: Math.round(s.p99 * 100) / 100, p999: Math.round(s.p999 * 100) / 100, max: Math.round(s.max * 100) / 100 } })(),
  windows,
  memory: { samples: memory, live_objects: live, trend: mem },
  failures,
  passed: failures.length === 0,
}
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n')
if (values.svg) writeFileSync(values.svg, renderMemorySvg(`toolgate soak: ${durationMs / 60_000} min at ${rate} req/s (achieved ${result.settings.achieved_rate}), ${values['hostile-reloads'] ? 'hostile' : 'realistic'} reloads`, memory, runSeconds, mem))
rmSync(dir, { recursive: true, force: true })

process.stdout.write(`soak: ${total - shed} requests sent (${shed} shed at ${maxInFlight} in flight) in ${result.run_seconds} s at ${rate} req/s offered, ${result.settings.achieved_rate} achieved; wrong ${wrong}; records ${recordCount}\n`)
for (const [k, v] of Object.entries(byKind)) process.stdout.write(`  ${k.padEnd(14)} sent ${String(v.sent).padStart(6)}  right ${String(v.right).padStart(6)}  wrong ${v.wrong}\n`)
process.stdout.write(`config rewrites ${configRewrites.good} good / ${configRewrites.bad} bad -> reloads ${JSON.stringify(reloads)}; bundle swaps ${bundleSwaps.good} good / ${bundleSwaps.bad} bad -> loads ${JSON.stringify(bundleLoads)}\n`)
process.stdout.write('window      reqs  wrong  p50 ms  p99 ms  RSS MiB  heap MiB\n')
for (const w of windows) process.stdout.write(`${`${w.from_s}-${w.to_s}s`.padEnd(10)} ${String(w.requests).padStart(5)}  ${String(w.wrong).padStart(5)}  ${w.p50_ms.toFixed(2).padStart(6)}  ${w.p99_ms.toFixed(2).padStart(6)}  ${String(w.rss_mib ?? '-').padStart(7)}  ${String(w.heap_used_mib ?? '-').padStart(8)}\n`)
process.stdout.write(`memory trend: ${mem.verdict} over ${mem.window_s[0]}-${mem.window_s[1]} s (floor slope / bound, MiB/min)${mem.grew.length ? `; grew: ${mem.grew.join(', ')}` : ''}\n`)
for (const [name, tr] of Object.entries(mem.series)) process.stdout.write(`  ${name.padEnd(14)} ${String(tr.slope_mib_per_min).padStart(8)} / ${String(tr.bound_mib_per_min).padStart(7)}  noise ${tr.noise_mib} MiB${tr.growing ? '  GREW' : ''}\n`)
const lastLive = live[live.length - 1]
if (lastLive) process.stdout.write(`live objects at the end: ${JSON.stringify({ ...lastLive, t_s: undefined })}\n`)
for (const s of wrongSamples.slice(0, 10)) process.stdout.write(`  wrong: #${s.i} ${s.kind} at ${s.t_s} s: ${s.why}\n`)
process.stdout.write(result.passed ? 'PASS\n' : `FAIL: ${failures.join('; ')}\n`)
process.exitCode = result.passed ? 0 : 1
