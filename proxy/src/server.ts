// Assembles one toolgate sidecar from a resolved config: runtime snapshot, policy engine, task
// and credential services, the proxy and admin listeners, and hot reload. Everything a running
// sidecar holds hangs off the Toolgate object it returns, so several can run in one process
// (tests) and close() releases all of it.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { once } from 'node:events'
import { RequestPipeline } from './pipeline/chain.ts'
import { createProxyListener, type ListenerHandle } from './listen/proxy-listener.ts'
import { buildRuntime, type Runtime } from './listen/runtime.ts'
import type { PipelineServices } from './pipeline/services.ts'
import { createAdminServer, type AdminRoute } from './admin/admin-server.ts'
import { createHealthServer } from './admin/health-server.ts'
import { createControlServer } from './admin/control-server.ts'
import { Metrics } from './record/metrics.ts'
import { createLogger, type Logger } from './record/log.ts'
import { ReloadableSink, type RecordSink } from './record/records.ts'
import { restartRequired } from './config/reload.ts'
import { jwksRoute, openConfiguredRecords } from './record/wiring.ts'
import type { ResolvedConfig } from './config/resolved.ts'
import type { PolicyEvaluator } from './decide/decide.ts'
import { createCredentialServices } from './credential/wiring.ts'
import { defaultInterceptorFactory, interceptorLimits, LazyInterception } from './listen/interception.ts'
import type { TlsInterceptor } from './listen/tls/interceptor.ts'
import { startTransparentListeners } from './listen/transparent/listeners.ts'
import { RateLimitStage } from './ratelimit/stage.ts'
import { startTelemetry, withLogExport } from './telemetry/wiring.ts'

/** What the sidecar needs of a policy engine beyond evaluation. */
export interface PolicyHandle extends PolicyEvaluator {
  readiness(): { ready: boolean; reason: string | null }
  /** Applies new policy settings (source, signing, data); keeps the last good bundle on failure. */
  reload?(opts: Awaited<ReturnType<typeof engineOptions>>): Promise<boolean>
  close(): Promise<void>
}

export interface StartOptions {
  config: ResolvedConfig
  logger?: Logger
  records?: RecordSink
  /** Policy engine; default: started from config.policy. Tests may pass their own. */
  policy?: PolicyHandle
  /** Task, credential and approval services; default: built from the config (credential/wiring.ts). */
  services?: Partial<PipelineServices>
  adminRoutes?: AdminRoute[]
  /** Routes of the control listener (tasks, approvals); default: those of the built services. */
  controlRoutes?: AdminRoute[]
  /**
   * Builds TLS interception for a config that needs it (listen/interception.ts says when); default:
   * per-pod CA from config.tls. null: no interception, so inspected HTTPS tools are refused.
   */
  interceptor?: ((pipeline: RequestPipeline, config: ResolvedConfig) => Promise<TlsInterceptor>) | null
  /** Metrics registry owner; default: a new one (process metrics included). */
  metrics?: Metrics
  /** Where the health listener (/healthz, /readyz only: admin/health-server.ts) listens; none when absent. */
  health?: { host: string; port: number }
}

export interface Toolgate {
  readonly proxyUrl: string
  readonly adminUrl: string
  /** The control listener (tasks, approvals; every call authenticated). */
  readonly controlUrl: string
  /** The read-only metrics listener, when the config enables one. */
  readonly metricsUrl: string | null
  /** Address of the health listener, when started with one. */
  readonly healthUrl: string | null
  /** Addresses of the transparent listeners, when the config enables them. */
  readonly transparent: { http: string | null; tls: string | null }
  readonly metrics: Metrics
  runtime(): Runtime
  /** True once TLS interception (the per-pod CA) exists; it is created only when a config needs it. */
  intercepting(): boolean
  /** Swaps in a new config (already validated). Throws, keeping the old one, if it cannot be applied. */
  applyConfig(config: ResolvedConfig): Promise<void>
  readiness(): { ready: boolean; reasons: string[]; restart_required: string[] }
  close(graceMs?: number): Promise<void>
}

async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  server.listen(port, host)
  await once(server, 'listening')
  return server.address() as AddressInfo
}

function urlOf(a: AddressInfo): string {
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${a.port}`
}

export async function startToolgate(opts: StartOptions): Promise<Toolgate> {
  const logger = opts.logger ?? createLogger({ level: opts.config.logging.level })
  const metrics = opts.metrics ?? new Metrics()
  const telemetry = await startTelemetry(opts.config, metrics.registry)
  // A sink toolgate opened itself follows logging.records on reload (reopened with the config's
  // checkpoint settings); an embedder's sink, or records replaced by log export, are kept.
  let recordsConfig = opts.config
  const ownSink = opts.records === undefined && !(telemetry.logs && telemetry.replaceRecords)
    ? new ReloadableSink(opts.config.logging.records, (target) => openConfiguredRecords({ ...recordsConfig, logging: { ...recordsConfig.logging, records: target } }))
    : null
  const primary = opts.records ?? ownSink
  const records: RecordSink = telemetry.logs ? withLogExport(primary, telemetry.logs) : primary!
  let runtime = buildRuntime(opts.config)
  // The pipeline reads the policy and the services when a request arrives, so it can exist
  // before they do; the slow start-up steps (policy bundle and WASM compile, signing keys, the
  // interception CA when the config needs one) then run concurrently. Nothing is served before
  // all of them are done.
  let policyRef: PolicyHandle | null = null
  const services: PipelineServices = { tasks: null, credentials: null, approvals: null, grants: null, ...opts.services }
  const rateLimits = new RateLimitStage(opts.config.rate_limits, metrics.registry)
  // The interceptor is read per tunnel: it may be created by a later reload.
  let interceptorRef: () => TlsInterceptor | null = () => null
  const pipeline = new RequestPipeline({ runtime: () => runtime, policy: () => policyRef, services, records, metrics, logger, rateLimits, tracing: telemetry.tracing, interceptor: () => interceptorRef() })
  const custom = opts.interceptor
  const interception = new LazyInterception(
    custom === undefined ? defaultInterceptorFactory({ pipeline, logger, registry: metrics.registry }) : custom === null ? null : (config) => custom(pipeline, config),
    logger,
  )
  interceptorRef = () => interception.current()
  const [policy, owned] = await Promise.all([
    opts.policy ?? startPolicyEngine(opts.config, metrics, logger),
    opts.services === undefined ? createCredentialServices(opts.config, { registry: metrics.registry, logger, records }) : null,
    interception.ensure(opts.config),
  ])
  policyRef = policy
  if (owned) Object.assign(services, { tasks: owned.tasks, credentials: owned.credentials, approvals: owned.approvals, grants: owned.grants })
  // First: the JWKS with the record checkpoint key as well as the credential keys (public, read-only).
  const jwks = jwksRoute(records, () => owned?.credentials.jwks().keys ?? [])
  const adminRoutes: AdminRoute[] = [jwks, ...(owned?.adminRoutes ?? []), ...(opts.adminRoutes ?? [])]
  const controlRoutes: AdminRoute[] = [...(owned?.controlRoutes ?? []), ...(opts.controlRoutes ?? [])]
  const proxy: ListenerHandle = createProxyListener({ pipeline, runtime: () => runtime, metrics, name: 'proxy' })
  let listening = false
  // Restart-only fields (config/reload.ts) the newest applied config changed: kept at their start
  // value, listed in the reload log line and in /readyz until the process restarts.
  let restartPending: string[] = []
  const readiness = (): { ready: boolean; reasons: string[]; restart_required: string[] } => {
    const reasons: string[] = []
    if (!listening) reasons.push('listeners are not bound yet')
    const p = policy.readiness()
    if (!p.ready) reasons.push(`policy: ${p.reason ?? 'not ready'}`)
    return { ready: reasons.length === 0, reasons, restart_required: restartPending }
  }
  // Read-only listeners (health, metrics, JWKS) and the control listener are separate servers, so
  // a scraper's address never exposes tasks or approvals.
  const admin = createAdminServer({ metrics, logger, readiness, routes: () => adminRoutes })
  const metricsServer = opts.config.listeners.metrics ? createAdminServer({ metrics, logger, readiness, routes: () => adminRoutes }) : null
  const control = createControlServer({ logger, routes: () => controlRoutes })

  const cfg = opts.config.listeners
  const proxyAddr = await listen(proxy.server, cfg.proxy.host, cfg.proxy.port)
  const adminAddr = await listen(admin, cfg.admin.host, cfg.admin.port)
  const controlAddr = await listen(control, cfg.control.host, cfg.control.port)
  const metricsAddr = metricsServer && cfg.metrics ? await listen(metricsServer, cfg.metrics.host, cfg.metrics.port) : null
  const health = opts.health ? createHealthServer(readiness) : null
  const healthAddr = health && opts.health ? await listen(health, opts.health.host, opts.health.port) : null
  const transparent = await startTransparentListeners({ config: opts.config, current: () => runtime.config, pipeline, intercepting: () => interception.current() !== null, logger })
  listening = true
  logger.info('toolgate listening', {
    proxy: urlOf(proxyAddr),
    admin: urlOf(adminAddr),
    control: urlOf(controlAddr),
    ...(metricsAddr ? { metrics: urlOf(metricsAddr) } : {}),
    ...(healthAddr ? { health: urlOf(healthAddr) } : {}),
    ...(transparent.http ? { transparent_http: urlOf(transparent.http) } : {}),
    ...(transparent.tls ? { transparent_tls: urlOf(transparent.tls) } : {}),
    tools: opts.config.tools.length,
    mode: opts.config.mode,
  })

  return {
    proxyUrl: urlOf(proxyAddr),
    adminUrl: urlOf(adminAddr),
    controlUrl: urlOf(controlAddr),
    metricsUrl: metricsAddr ? urlOf(metricsAddr) : null,
    healthUrl: healthAddr ? urlOf(healthAddr) : null,
    transparent: { http: transparent.http ? urlOf(transparent.http) : null, tls: transparent.tls ? urlOf(transparent.tls) : null },
    metrics,
    runtime: () => runtime,
    intercepting: () => interception.current() !== null,
    readiness,
    async applyConfig(config) {
      // A config that needs interception gets it before it takes effect: if it cannot be created,
      // this throws with nothing changed, and the caller keeps the config in force.
      await interception.ensure(config)
      // A records target that cannot be opened rejects the reload before anything changed.
      recordsConfig = config
      await ownSink?.retarget(config.logging.records)
      const next = buildRuntime(config)
      const previous = runtime
      runtime = next
      // Everything else a reload can change (config/reload.ts lists each field and its reader);
      // listeners read limits from the snapshot for every new connection.
      proxy.applyLimits(config)
      transparent.applyLimits(config)
      interception.current()?.applyLimits(interceptorLimits(config))
      owned?.applyConfig(config)
      logger.setLevel(config.logging.level)
      rateLimits.update(config.rate_limits)
      // Policy settings follow the config; a bundle that fails to load keeps the last good one.
      if (opts.policy === undefined && policy.reload) await policy.reload(await engineOptions(config, metrics, logger))
      // In-flight requests keep their snapshot; its pools close when those finish.
      void previous.pools.close()
      restartPending = restartRequired(opts.config, config)
      metrics.configReloads.inc({ result: 'success' })
      logger.info('config applied', { hash: config.source.hash, tools: config.tools.length, restart_required: restartPending })
    },
    async close(graceMs = runtime.config.timeouts.shutdown_ms) {
      listening = false
      await Promise.all([proxy.drain(graceMs), transparent.close(graceMs)])
      interception.close()
      admin.close()
      admin.closeAllConnections()
      control.close()
      control.closeAllConnections()
      metricsServer?.close()
      metricsServer?.closeAllConnections()
      health?.close()
      health?.closeAllConnections()
      await runtime.pools.destroy()
      await owned?.close()
      await policy.close()
      await records.close()
      await telemetry.close()
      rateLimits.close()
    },
  }
}

async function startPolicyEngine(config: ResolvedConfig, metrics: Metrics, logger: Logger): Promise<PolicyHandle> {
  const { PolicyEngine } = await import('./decide/policy/engine.ts')
  return PolicyEngine.start(await engineOptions(config, metrics, logger))
}

async function engineOptions(config: ResolvedConfig, metrics: Metrics, logger: Logger) {
  const { policyEngineOptions } = await import('./decide/policy/options.ts')
  return policyEngineOptions(config.policy, metrics.registry, logger.child({ component: 'policy' }))
}
