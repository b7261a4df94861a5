// Starts a real toolgate (real listeners, real policy engine on the embedded default bundle
// unless the config names another) from YAML text, with records kept in memory for assertions.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfigText } from '../../proxy/src/config/load.ts'
import { startToolgate, type StartOptions, type Toolgate } from '../../proxy/src/server.ts'
import { memorySink, type RecordFields, type RecordSink } from '../../proxy/src/record/records.ts'
import type { ToolgateRecord } from '../../proxy/src/record/record-types.ts'
import { createLogger, type Logger } from '../../proxy/src/record/log.ts'
import type { ResolvedConfig } from '../../proxy/src/config/resolved.ts'

export interface TestToolgate {
  tg: Toolgate
  config: ResolvedConfig
  records: RecordFields[]
  logs: string[]
  proxyUrl: string
  adminUrl: string
  controlUrl: string
  /** The temp dir the config was written to (relative paths in it resolve here). */
  dir: string
  /** Ports of the transparent listeners the config enabled (null when off). */
  transparent: { http: { port: number } | null; tls: { port: number } | null }
  /**
   * The first record (already written, or written later) that matches: an event to wait on
   * instead of a sleep or a polling loop. Rejects after timeoutMs (default 5000).
   */
  recorded(match: (r: RecordFields, index: number) => boolean, timeoutMs?: number): Promise<RecordFields>
  close(): Promise<void>
}

/** A memory sink that tells waiters about each record it stores. */
function observedSink(): { sink: RecordSink & { records: RecordFields[] }; recorded: TestToolgate['recorded'] } {
  const inner = memorySink()
  const records = inner.records
  const waiters = new Set<() => void>()
  const sink = { records, write: (r: ToolgateRecord) => { inner.write(r); for (const w of [...waiters]) w() }, close: () => inner.close() }
  const recorded: TestToolgate['recorded'] = (match, timeoutMs = 5000) => new Promise((resolve, reject) => {
    const check = (): void => {
      const i = records.findIndex(match)
      if (i === -1) return
      done()
      resolve(records[i]!)
    }
    const timer = setTimeout(() => { done(); reject(new Error(`no matching record within ${timeoutMs} ms (${records.length} records)`)) }, timeoutMs)
    const done = (): void => { clearTimeout(timer); waiters.delete(check) }
    waiters.add(check)
    check()
  })
  return { sink, recorded }
}

const portOf = (url: string | null): { port: number } | null => (url === null ? null : { port: Number(new URL(url).port) })

/** Parses YAML (written to a temp dir so relative paths resolve there) or throws with the errors. */
export function testConfig(yaml: string, dir = mkdtempSync(join(tmpdir(), 'toolgate-test-'))): ResolvedConfig {
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, yaml)
  const parsed = parseConfigText(yaml, file)
  if (!parsed.ok) throw new Error('test config invalid:\n' + parsed.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`).join('\n'))
  return parsed.config
}

/**
 * The one gateway starter of the tests: a real toolgate in this process, as `toolgate run` builds
 * it. `yaml` may be a function of the temp dir the config is written to, for configs that place
 * files there (a published CA, secrets).
 */
export async function startTestToolgate(yaml: string | ((dir: string) => string), extra: Partial<StartOptions> = {}): Promise<TestToolgate> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-test-'))
  const config = testConfig(typeof yaml === 'function' ? yaml(dir) : yaml, dir)
  const { sink, recorded } = observedSink()
  const logs: string[] = []
  const logger: Logger = createLogger({ level: 'debug', write: (line) => { logs.push(line) } })
  const tg = await startToolgate({ config, records: sink, logger, ...extra })
  return {
    tg, config, records: sink.records, logs, proxyUrl: tg.proxyUrl, adminUrl: tg.adminUrl, controlUrl: tg.controlUrl, dir,
    transparent: { http: portOf(tg.transparent.http), tls: portOf(tg.transparent.tls) },
    recorded,
    close: () => tg.close(500),
  }
}

/** A tool entry for an upstream on 127.0.0.1:port (named explicitly, so the loopback address is allowed). */
export function loopbackTool(name: string, port: number, routes = '      - { methods: [GET, HEAD], path: "/**" }'): string {
  return `  - name: ${name}
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
${routes}
`
}

/**
 * The listeners and logging sections of a test config: every listener on a free loopback port,
 * the transparent ones (a pod with iptables redirection) when asked for.
 */
export function testListenersYaml(o: { transparent?: 'http' | 'tls' | 'both'; level?: string; records?: string } = {}): string {
  const http = o.transparent === 'http' || o.transparent === 'both'
  const tls = o.transparent === 'tls' || o.transparent === 'both'
  return `listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
${http ? '  transparent_http: { host: 127.0.0.1, port: 0 }\n' : ''}${tls ? '  transparent_tls: { host: 127.0.0.1, port: 0 }\n' : ''}logging: { level: ${o.level ?? 'error'}${o.records !== undefined ? `, records: ${o.records}` : ''} }
`
}

export const testListeners = testListenersYaml()

/** testListeners plus both transparent listeners, on free loopback ports. */
export const testListenersWithTransparent = testListenersYaml({ transparent: 'both' })
