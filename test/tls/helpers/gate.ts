// Starts a real toolgate as `toolgate run` would: startToolgate builds TLS interception (per-pod
// CA, published where the config says), the credential services and, when the config enables
// them, the transparent listeners. Records and logs are kept in memory for assertions.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startToolgate, type Toolgate } from '../../../proxy/src/server.ts'
import { memorySink, type RecordFields } from '../../../proxy/src/record/records.ts'
import { createLogger } from '../../../proxy/src/record/log.ts'
import { testConfig } from '../../helpers/toolgate.ts'

export interface InterceptingGate {
  tg: Toolgate
  transparent: { http: { port: number } | null; tls: { port: number } | null }
  records: RecordFields[]
  logs: string[]
  proxyUrl: string
  dir: string
  close(): Promise<void>
}

const portOf = (url: string | null): { port: number } | null => (url === null ? null : { port: Number(new URL(url).port) })

export async function startInterceptingGate(yaml: (dir: string) => string): Promise<InterceptingGate> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-tls-'))
  const config = testConfig(yaml(dir), dir)
  const sink = memorySink()
  const logs: string[] = []
  const logger = createLogger({ level: 'debug', write: (l) => { logs.push(l) } })
  const tg = await startToolgate({ config, records: sink, logger })
  return {
    tg,
    transparent: { http: portOf(tg.transparent.http), tls: portOf(tg.transparent.tls) },
    records: sink.records,
    logs,
    proxyUrl: tg.proxyUrl,
    dir,
    close: () => tg.close(300),
  }
}
