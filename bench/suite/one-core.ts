// The one-core comparison of issue 19: a forward proxy and its upstream pinned to one core
// (taskset), the load generator (this process) pinned to the other, closed-loop at saturation.
// Stripe's Go egress proxy Smokescreen (built lazily by scripts/bench-prepare-smokescreen.js, a
// bench-only tool: `npm test` never builds it) against toolgate in forward mode and in route-prefix
// mode, same upstream, same requests, one after the other in the same run.
//
// Pinning is applied after each process starts with `taskset -a -p` (every thread; threads a
// process creates later inherit its mask), so the start-up code needs no wrapper.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { maxThroughput, r3 } from '../lib/loadgen.ts'
import { freePort } from '../lib/ports.ts'
import { repoRoot, startChild, track } from '../lib/processes.ts'
import { cpuSeconds } from '../lib/procstat.ts'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { ITEM, forwardTarget, plainConfig } from './scenarios.ts'
import type { SuiteContext } from './scenarios.ts'

export interface OneCoreRow {
  name: string
  description: string
  skipped?: string
  rps?: number
  requests?: number
  errors?: number
  latency_ms?: { p50: number; p99: number; p999: number; max: number }
  /** CPU of proxy + upstream (both on the pinned core) per request. */
  cpu_us_per_request?: number
}

export interface OneCoreResult {
  proxy_cpu: number
  loadgen_cpu: number
  seconds: number
  connections: number
  smokescreen_build_s: number | null
  rows: OneCoreRow[]
}

function pin(pid: number, cpu: number | string): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
}

/** This process's CPU list (to restore it afterwards), e.g. "0,1" or "0-1". */
function cpuList(pid: number): string {
  const out = execFileSync('taskset', ['-p', '-c', String(pid)], { encoding: 'utf8' })
  return out.slice(out.lastIndexOf(':') + 1).trim()
}

/** .cache/bin/smokescreen, building it the first time (seconds the build took, or null if cached). */
function ensureSmokescreen(): { bin: string | null; buildS: number | null; why?: string } {
  const bin = join(repoRoot, '.cache', 'bin', 'smokescreen')
  const started = performance.now()
  // The script is also the cache check: a cached binary is a copy (or nothing).
  const r = spawnSync(process.execPath, ['scripts/bench-prepare-smokescreen.js'], { cwd: repoRoot, encoding: 'utf8' })
  const built = /built smokescreen/.test(r.stdout ?? '')
  if (r.status !== 0 || !existsSync(bin)) return { bin: null, buildS: null, why: `bench-prepare-smokescreen failed: ${(r.stderr || r.stdout || '').trim().slice(-300)}` }
  return { bin, buildS: built ? r3((performance.now() - started) / 1000) : null }
}

async function startSmokescreen(bin: string): Promise<{ pid: number; url: string; stop(): Promise<void> }> {
  const port = await freePort()
  // No ACL file: every destination allowed except denied ranges; loopback is denied by default,
  // so the upstream's range is allowed explicitly (as the setup does). Its decision line
  // per call goes to stderr, drained (and discarded) here as a log shipper would read it.
  const proc = spawn(bin, ['--listen-ip', '127.0.0.1', '--listen-port', String(port), '--allow-range', '127.0.0.1/32'], { stdio: ['ignore', 'ignore', 'pipe'] })
  track(proc)
  await new Promise<void>((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => reject(new Error(`smokescreen not listening after 10 s: ${buf.slice(-300)}`)), 10_000)
    proc.stderr!.on('data', (c: Buffer) => {
      if (buf.length < 8192) buf += c.toString()
      if (/"listening_port"/.test(buf)) { clearTimeout(t); resolve() }
    })
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`smokescreen exited ${code}: ${buf.slice(-300)}`)) })
  })
  proc.stderr!.resume()
  return {
    pid: proc.pid!,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise((r) => proc.once('exit', r))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export async function runOneCore(ctx: SuiteContext, o: { seconds: number; warmupSeconds: number; connections: number }): Promise<OneCoreResult | { skipped: string }> {
  if (cpus().length < 2) return { skipped: 'needs at least 2 CPUs (proxy + upstream on one, load generator on the other)' }
  if (spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status !== 0) return { skipped: 'taskset (util-linux) is not installed' }
  const PROXY_CPU = 0
  const LOADGEN_CPU = 1
  const smokescreen = ensureSmokescreen()
  const mine = cpuList(process.pid)
  const upstream = await startChild(process.execPath, ['bench/lib/upstream-server.ts'], /listening (\d+)/)
  const upstreamPid = upstream.proc.pid!
  const upstreamPort = Number(upstream.ready[1])
  const rows: OneCoreRow[] = []
  try {
    pin(upstreamPid, PROXY_CPU)
    pin(process.pid, LOADGEN_CPU)
    const cases: Array<{ name: string; description: string; start(): Promise<{ pid: number; origin: string; path: string; headers?: Record<string, string>; stop(): Promise<void> } | { skip: string }> }> = [
      {
        name: 'smokescreen',
        description: 'Smokescreen v0.1.0 (Go), forward proxy, --allow-range for the upstream, no ACL file, a JSON decision line per call',
        start: async () => {
          if (!smokescreen.bin) return { skip: smokescreen.why ?? 'smokescreen not built' }
          const s = await startSmokescreen(smokescreen.bin)
          return { pid: s.pid, ...forwardTarget(s.url, upstreamPort), stop: s.stop }
        },
      },
      {
        name: 'toolgate-forward',
        description: 'toolgate forward mode (absolute-form), allowlist + WASM policy + records',
        start: async () => {
          const tg = await startToolgateProcess(ctx.dir, plainConfig(upstreamPort, `${ctx.dir}/records-onecore-fwd.jsonl`), { configName: 'config-onecore-fwd/toolgate.yaml', nodeArgs: ctx.toolgateNodeArgs, bin: ctx.toolgateBin, env: ctx.toolgateEnv })
          return { pid: tg.pid, ...forwardTarget(tg.proxyUrl, upstreamPort), stop: () => tg.stop() }
        },
      },
      {
        name: 'toolgate-prefix',
        description: 'toolgate route-prefix mode (/t/bench/...), otherwise the same',
        start: async () => {
          const tg = await startToolgateProcess(ctx.dir, plainConfig(upstreamPort, `${ctx.dir}/records-onecore-prefix.jsonl`), { configName: 'config-onecore-prefix/toolgate.yaml', nodeArgs: ctx.toolgateNodeArgs, bin: ctx.toolgateBin, env: ctx.toolgateEnv })
          return { pid: tg.pid, origin: tg.proxyUrl, path: `/t/bench${ITEM}`, stop: () => tg.stop() }
        },
      },
    ]
    for (const c of cases) {
      process.stderr.write(`[bench] one-core ${c.name}: `)
      let started
      try { started = await c.start() } catch (err) { started = { skip: `did not start: ${(err as Error).message.slice(0, 200)}` } }
      if ('skip' in started) {
        process.stderr.write(`SKIPPED: ${started.skip}\n`)
        rows.push({ name: c.name, description: c.description, skipped: started.skip })
        continue
      }
      try {
        pin(started.pid, PROXY_CPU)
        const target = { origin: started.origin, path: started.path, ...(started.headers ? { headers: started.headers } : {}), connections: o.connections }
        await maxThroughput({ ...target, durationMs: o.warmupSeconds * 1000 })
        const pids = [started.pid, upstreamPid]
        const cpu0 = cpuSeconds(pids)
        const m = await maxThroughput({ ...target, durationMs: o.seconds * 1000 })
        const cpu = cpuSeconds(pids) - cpu0
        rows.push({
          name: c.name, description: c.description, rps: Math.round(m.rps), requests: m.requests, errors: m.errors,
          latency_ms: { p50: r3(m.latencyMs.p50), p99: r3(m.latencyMs.p99), p999: r3(m.latencyMs.p999), max: r3(m.latencyMs.max) },
          cpu_us_per_request: m.requests ? Math.round((cpu / m.requests) * 1e7) / 10 : 0,
        })
        process.stderr.write(`${Math.round(m.rps)} req/s, p50 ${r3(m.latencyMs.p50)} ms, p99 ${r3(m.latencyMs.p99)} ms, errors ${m.errors}\n`)
      } finally {
        await started.stop()
      }
    }
  } finally {
    pin(process.pid, mine)
    await upstream.stop()
  }
  return { proxy_cpu: PROXY_CPU, loadgen_cpu: LOADGEN_CPU, seconds: o.seconds, connections: o.connections, smokescreen_build_s: smokescreen.buildS, rows }
}
