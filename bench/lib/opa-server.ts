// `opa run --server` on loopback with toolgate's default policy (policy/src: the Rego and its
// data.json), for the external-PDP baseline. The binary is the one scripts/prepare-opa.js builds.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort, waitForHttp } from './ports.ts'
import { repoRoot, track } from './processes.ts'

export function findOpa(): string | null {
  const p = join(repoRoot, '.cache', 'bin', 'opa')
  return existsSync(p) ? p : null
}

export interface OpaProcess { proc: ChildProcess; pid: number; port: number; stop(): Promise<void> }

export async function startOpaServer(binary: string): Promise<OpaProcess> {
  const port = await freePort()
  const proc = spawn(binary, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '--disable-telemetry', join(repoRoot, 'policy', 'src')], { stdio: ['ignore', 'ignore', 'pipe'] })
  track(proc)
  let stderr = ''
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const failed = once(proc, 'exit').then(([code]) => { throw new Error(`opa exited ${code}: ${stderr.slice(-500)}`) })
  failed.catch(() => {})
  try {
    await Promise.race([waitForHttp(`http://127.0.0.1:${port}/health`, 15_000, 200, 20), failed])
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  }
  return {
    proc, pid: proc.pid!, port,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = once(proc, 'exit')
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}
