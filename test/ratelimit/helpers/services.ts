// Real infrastructure of the global rate limit test, each started here on loopback and stopped
// by close(): Redis (Debian redis-server) and the Envoy rate limit service (envoyproxy/ratelimit,
// built by scripts/prepare-ratelimit.js) with a config directory written by the test, and
// toolgate itself as a child process (`toolgate run --config`).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot, toolPath } from '../../helpers/tools.ts'
import { freePort } from '../../telemetry/helpers/collector.ts'

export interface Proc {
  port: number
  output(): string
  stop(): Promise<void>
}

async function waitPort(port: number, child: ChildProcess, out: () => string, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${out()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > end) { child.kill('SIGKILL'); throw new Error(`${what} did not listen on ${port}: ${out()}`) }
    await new Promise((r) => setTimeout(r, 100))
  }
}

function supervise(child: ChildProcess, port: number): Proc {
  let output = ''
  const keep = (c: Buffer) => { output = (output + c.toString()).slice(-20_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = once(child, 'exit')
  return {
    port,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export async function startRedis(): Promise<Proc> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const p = supervise(child, port)
  await waitPort(port, child, p.output, 'redis-server')
  return p
}

/** The rate limit service with one config file (its YAML), backed by the Redis on redisPort. */
export async function startRateLimitService(redisPort: number, configYaml: string): Promise<Proc> {
  const root = mkdtempSync(join(tmpdir(), 'toolgate-rls-'))
  mkdirSync(join(root, 'ratelimit', 'config'), { recursive: true })
  writeFileSync(join(root, 'ratelimit', 'config', 'toolgate.yaml'), configYaml)
  const [grpc, http, debug] = [await freePort(), await freePort(), await freePort()]
  const child = spawn(toolPath('ratelimit'), [], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      REDIS_SOCKET_TYPE: 'tcp', REDIS_URL: `127.0.0.1:${redisPort}`, USE_STATSD: 'false',
      RUNTIME_ROOT: root, RUNTIME_SUBDIRECTORY: 'ratelimit', RUNTIME_WATCH_ROOT: 'false', RUNTIME_IGNOREDOTFILES: 'true',
      GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpc), HOST: '127.0.0.1', PORT: String(http), DEBUG_HOST: '127.0.0.1', DEBUG_PORT: String(debug),
      LOG_LEVEL: 'warn',
    },
  })
  const p = supervise(child, grpc)
  await waitPort(grpc, child, p.output, 'ratelimit service')
  return p
}

/** `toolgate run --config FILE` as its own process; resolves when /readyz says ready. */
export async function startToolgateProcess(yaml: string): Promise<Proc & { proxyUrl: string; adminUrl: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-proc-'))
  const [proxy, admin] = [await freePort(), await freePort()]
  writeFileSync(join(dir, 'toolgate.yaml'), yaml.replaceAll('$PROXY_PORT', String(proxy)).replaceAll('$ADMIN_PORT', String(admin)))
  const child = spawn(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'run', '--config', join(dir, 'toolgate.yaml')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir })
  const p = supervise(child, proxy)
  await waitPort(admin, child, p.output, 'toolgate', 60_000)
  const adminUrl = `http://127.0.0.1:${admin}`
  for (let i = 0; ; i++) {
    const r = await fetch(`${adminUrl}/readyz`).catch(() => null)
    if (r?.status === 200) break
    if (i >= 300 || child.exitCode !== null) {
      await p.stop()
      throw new Error(`toolgate did not become ready: ${p.output()}`)
    }
    await new Promise((res) => setTimeout(res, 100))
  }
  return { ...p, proxyUrl: `http://127.0.0.1:${proxy}`, adminUrl, dir }
}
