// Child processes for benchmarks: each server runs in its own process so the load generator
// does not share an event loop (or a core's time slices) with what it measures.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

export interface Child {
  proc: ChildProcess
  /** The first stdout line matching the ready pattern. */
  ready: RegExpExecArray
  /** The last 16 KiB of stdout + stderr, for reporting a child that died. */
  tail(): string
  stop(): Promise<void>
}

// Children still running when this process exits (a benchmark that threw half-way) are killed,
// so a failed run never leaves servers behind.
const live = new Set<ChildProcess>()
process.once('exit', () => { for (const p of live) p.kill('SIGKILL') })

/** Registers a child spawned elsewhere (nginx, opa) for that clean-up. */
export function track(proc: ChildProcess): void {
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
}

export async function startChild(cmd: string, args: string[], readyPattern: RegExp, opts: { env?: NodeJS.ProcessEnv; stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {}): Promise<Child> {
  const proc = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  track(proc)
  const stream = opts.stream === 'stderr' ? proc.stderr! : proc.stdout!
  let buffer = ''
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: not ready after ${opts.timeoutMs ?? 15000} ms; output: ${buffer.slice(-2000)}`)), opts.timeoutMs ?? 15000)
    stream.on('data', (c: Buffer) => {
      buffer += c.toString()
      const m = readyPattern.exec(buffer)
      if (m) { clearTimeout(timer); resolve(m) }
    })
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited with ${code}: ${buffer.slice(-2000)}`)) })
  })
  // Keep draining so a chatty child never blocks on a full pipe; keep a bounded tail.
  let tail = buffer.slice(-16_384)
  const keep = (c: Buffer): void => { tail = (tail + c.toString()).slice(-16_384) }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  proc.stdout!.resume()
  proc.stderr!.resume()
  return {
    proc,
    ready,
    tail: () => tail,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = once(proc, 'exit')
      proc.kill('SIGTERM')
      // A server that does not drain in 5 s is killed: a benchmark must always end.
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}
