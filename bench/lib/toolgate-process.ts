// Starts `toolgate run --config FILE` as its own process (the way it runs in a pod) and reports
// its listener addresses (from the "toolgate listening" log line: the config must log at info)
// and how long it took to be ready: from spawn to the first 200 of the
// admin /readyz.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { startChild, type Child } from './processes.ts'
import { waitForHttp } from './ports.ts'

export interface ToolgateProcess {
  child: Child
  pid: number
  proxyUrl: string
  adminUrl: string
  /** Spawn to first /readyz 200, in ms. */
  readyMs: number
  configFile: string
  stop(): Promise<void>
}

const LISTENING = /"msg":"toolgate listening".*?"proxy":"(http:\/\/[^"]+)".*?"admin":"(http:\/\/[^"]+)"/

export async function startToolgateProcess(dir: string, configYaml: string, opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; configName?: string; bin?: string } = {}): Promise<ToolgateProcess> {
  const configFile = join(dir, opts.configName ?? 'toolgate.yaml')
  mkdirSync(dirname(configFile), { recursive: true })
  writeFileSync(configFile, configYaml)
  const spawnedAt = performance.now()
  const child = await startChild(process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? 'bin/toolgate.js', 'run', '--config', configFile], LISTENING, { stream: 'stderr', ...(opts.env ? { env: opts.env } : {}), timeoutMs: 30_000 })
  const adminUrl = child.ready[2]!
  await waitForHttp(`${adminUrl}/readyz`, 15_000, 200, 1)
  const readyMs = performance.now() - spawnedAt
  return { child, pid: child.proc.pid!, proxyUrl: child.ready[1]!, adminUrl, readyMs, configFile, stop: () => child.stop() }
}

/** Ready time measured on its own: spawn, poll /readyz every ms, stop. Median of `runs`. */
export async function measureReady(dir: string, configYaml: string, runs = 3, opts: { nodeArgs?: string[]; bin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ medianMs: number; samplesMs: number[] }> {
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const tg = await startToolgateProcess(dir, configYaml, { ...opts, configName: `config-ready-${i}/toolgate.yaml` })
    samples.push(tg.readyMs)
    await tg.stop()
  }
  const sorted = [...samples].sort((a, b) => a - b)
  return { medianMs: sorted[Math.floor(sorted.length / 2)]!, samplesMs: samples }
}
