// Runs a real toolgate process (bin/toolgate.js run) on a config written to a temp dir, with the
// injected sidecar's memory settings (NODE_OPTIONS, MALLOC_ARENA_MAX from inject/settings.ts),
// so tests can attack it from outside and see whether the process survives, how much memory it
// holds (RSS from /proc) and whether it exits on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SIDECAR_RUNTIME } from '../../proxy/src/inject/settings.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface ToolgateProcess {
  child: ChildProcess
  proxyPort: number
  adminPort: number
  /** The control listener (tasks, approvals), when the build has one. */
  controlPort: number | null
  transparentHttpPort: number | null
  stderr: () => string
  /** Resident set size in KiB, from /proc/<pid>/status. */
  rssKiB(): number
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string | null>
  alive(): boolean
  kill(): void
}

export async function spawnToolgate(yaml: string, opts: { env?: Record<string, string> } = {}): Promise<ToolgateProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-proc-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, yaml)
  const child = spawn(process.execPath, [join(root, 'bin/toolgate.js'), 'run', '--config', file], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: SIDECAR_RUNTIME.nodeOptions, MALLOC_ARENA_MAX: String(SIDECAR_RUNTIME.mallocArenaMax), ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  let exitedWith: number | string | null | undefined
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => { exitedWith = code ?? signal; resolve(exitedWith) }))
  const listening = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('toolgate did not start (it must log at level info or debug):\n' + err)), 60_000)
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString()
      if (err.length > 1_000_000) err = err.slice(-500_000)
      for (const line of err.split('\n')) {
        if (!line.includes('toolgate listening')) continue
        try { clearTimeout(timer); resolve(JSON.parse(line)) } catch { /* partial line */ }
      }
    })
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`toolgate exited (${code}):\n${err}`)) })
  })
  const port = (u: string | undefined): number | null => (u === undefined ? null : Number(new URL(u).port))
  return {
    child,
    proxyPort: port(listening['proxy'])!,
    adminPort: port(listening['admin'])!,
    controlPort: port(listening['control']),
    transparentHttpPort: port(listening['transparent_http']),
    stderr: () => err,
    rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN),
    exited,
    alive: () => exitedWith === undefined,
    kill: () => { if (exitedWith === undefined) child.kill('SIGKILL') },
  }
}
