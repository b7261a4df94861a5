// kube-controller-manager for the live-node test, running only the controllers a test names
// (e.g. `job`): real Job semantics without the rest of a control plane. Loopback only; stopped
// (SIGTERM, then SIGKILL) by stop().
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type Cluster } from './cluster.ts'

export interface ControllerManager {
  logs(): string
  stop(): Promise<void>
}

export async function startControllerManager(cluster: Cluster, bin: string, controllers: string[]): Promise<ControllerManager> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-kcm-'))
  const log: string[] = []
  const child: ChildProcess = spawn(bin, [
    `--kubeconfig=${cluster.kubeconfig}`, `--controllers=${controllers.join(',')}`, '--leader-elect=false',
    '--bind-address=127.0.0.1', `--secure-port=${await freePort()}`, `--cert-dir=${dir}`, '--v=1',
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (b: Buffer) => {
    log.push(b.toString())
    if (log.length > 400) log.splice(0, log.length - 400) // bounded
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  // It has nothing to report ready on; an early exit (bad flags) shows within a second.
  await new Promise((r) => setTimeout(r, 1000))
  if (child.exitCode !== null) throw new Error(`kube-controller-manager exited ${child.exitCode}:\n${log.join('').slice(-3000)}`)
  return {
    logs: () => log.join(''),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
