// Starts a real toolgate with TLS interception (and, when the config enables them, the transparent
// listeners) wired the way the composition root should wire them: server.ts takes a ready
// interceptor, so the interceptor's pipeline is a RequestPipeline over the same runtime, policy,
// services, records and metrics as the sidecar's own (the pipeline holds no other state).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startToolgate, type Toolgate } from '../../../proxy/src/server.ts'
import { RequestPipeline, type RequestContext } from '../../../proxy/src/listen/pipeline.ts'
import { memorySink, type RecordFields } from '../../../proxy/src/record/records.ts'
import { createLogger } from '../../../proxy/src/record/log.ts'
import { Metrics } from '../../../proxy/src/record/metrics.ts'
import { PolicyEngine } from '../../../proxy/src/decide/policy/engine.ts'
import { CredentialBroker } from '../../../proxy/src/credential/broker.ts'
import type { PipelineServices } from '../../../proxy/src/listen/services.ts'
import { createTlsInterception, type TlsInterception } from '../../../proxy/src/listen/tls/setup.ts'
import { startTransparentListeners, type TransparentListeners } from '../../../proxy/src/listen/transparent/listeners.ts'
import { testConfig } from '../../helpers/toolgate.ts'

export interface InterceptingGate {
  tg: Toolgate
  tls: TlsInterception
  transparent: TransparentListeners
  records: RecordFields[]
  logs: string[]
  proxyUrl: string
  dir: string
  close(): Promise<void>
}

export async function startInterceptingGate(yaml: (dir: string) => string): Promise<InterceptingGate> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-tls-'))
  const config = testConfig(yaml(dir), dir)
  const sink = memorySink()
  const logs: string[] = []
  const logger = createLogger({ level: 'debug', write: (l) => { logs.push(l) } })
  const metrics = new Metrics()
  const policy = await PolicyEngine.start({ source: config.policy.bundle, entrypoint: config.policy.entrypoint, registry: metrics.registry, logger, ...(config.policy.data ? { extraData: config.policy.data } : {}) })
  const credentials = Object.keys(config.credentials).length > 0
    ? new CredentialBroker({ providers: config.credentials, configDir: config.source.dir, registry: metrics.registry, logger, records: sink, tasks: null })
    : null
  const services: PipelineServices = { tasks: null, credentials, approvals: null }
  let inner: RequestPipeline | null = null
  const handler = { handle: (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => inner!.handle(req, res, ctx) }
  const tls = await createTlsInterception({ config, pipeline: handler, logger, registry: metrics.registry })
  const tg = await startToolgate({ config, records: sink, logger, policy, metrics, services, interceptor: tls.interceptor })
  inner = new RequestPipeline({ runtime: tg.runtime, policy: () => policy, services, records: sink, metrics, logger })
  const transparent = await startTransparentListeners({ config, pipeline: inner, deps: { pipeline: inner, runtime: tg.runtime, records: sink, metrics }, interceptor: tls.interceptor, logger })
  return {
    tg, tls, transparent, records: sink.records, logs, proxyUrl: tg.proxyUrl, dir,
    close: async () => {
      tls.interceptor.close()
      await transparent.close(200)
      await tg.close(300)
      await credentials?.close()
    },
  }
}
