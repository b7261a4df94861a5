// When TLS interception exists. Building it (loading @peculiar/x509 and its ASN.1 stack, then
// generating or loading the per-pod CA) is the largest single cost of start-up, and a sidecar
// whose tools are all plain HTTP or passthrough never terminates TLS. So it is created only when
// a config needs it: at start, before ready (the published CA file must exist before the agent
// container starts), or on the first reload that needs it, before that reload takes effect.
// Once created it lives as long as the process: the agent has already loaded the published CA.
// listen/tls/* is imported here, dynamically, and nowhere else on the start-up path.

import type { Registry } from 'prom-client'
import type { ResolvedConfig } from '../config/resolved.ts'
import type { Logger } from '../record/log.ts'
import type { InterceptedRequestHandler, InterceptorLimits, TlsInterceptor } from './tls/interceptor.ts'

/** Why `config` needs TLS interception, or null when nothing in it does. */
export function interceptionNeed(config: ResolvedConfig): string | null {
  // A configured CA is there to be published or used: the agent may trust it before any tool
  // needs it (Kubernetes starts the agent once the sidecar is ready and reads SSL_CERT_FILE).
  if (config.tls.ca !== undefined) return 'tls.ca is configured'
  if (config.listeners.transparent_tls) return 'the transparent TLS listener is enabled'
  const inspected = config.tools.find((t) => (t.match.scheme ?? 'https') === 'https' && t.passthrough !== true)
  return inspected ? `tool ${inspected.name} is HTTPS and not passthrough` : null
}

/** The interceptor's limits from a config (at creation, and again on every reload). */
export function interceptorLimits(config: ResolvedConfig): Required<InterceptorLimits> {
  const t = config.timeouts
  return {
    handshakeTimeoutMs: t.client_headers_ms,
    idleTimeoutMs: t.idle_ms,
    headersTimeoutMs: t.client_headers_ms,
    keepAliveTimeoutMs: t.keep_alive_ms,
    maxHeaderBytes: config.limits.max_header_bytes,
    maxConnections: config.limits.max_connections,
    maxH2Streams: config.limits.max_h2_streams,
  }
}

/** Builds the interceptor for a config (the default one: per-pod CA, leaf cache, interceptor). */
export type InterceptorFactory = (config: ResolvedConfig) => Promise<TlsInterceptor>

export function defaultInterceptorFactory(deps: { pipeline: InterceptedRequestHandler; logger: Logger; registry: Registry }): InterceptorFactory {
  return async (config) => {
    const { createTlsInterception } = await import('./tls/setup.ts')
    return (await createTlsInterception({ config, pipeline: deps.pipeline, logger: deps.logger, registry: deps.registry })).interceptor
  }
}

/** Holds the interceptor once some config needed it. */
export class LazyInterception {
  readonly #factory: InterceptorFactory | null
  readonly #logger: Logger
  #current: TlsInterceptor | null = null
  #pending: Promise<TlsInterceptor> | null = null
  #closed = false
  #toldNotNeeded = false

  /** factory null: interception is off (tests); inspected tools are then refused, never tunnelled. */
  constructor(factory: InterceptorFactory | null, logger: Logger) {
    this.#factory = factory
    this.#logger = logger
  }

  current(): TlsInterceptor | null {
    return this.#current
  }

  /**
   * Creates the interceptor when `config` needs it and there is none yet. Rejects when it cannot
   * be created (unreadable CA key, unwritable publish path, ...); nothing is kept then, so a
   * later config may try again.
   */
  async ensure(config: ResolvedConfig): Promise<TlsInterceptor | null> {
    if (this.#current !== null || this.#factory === null) return this.#current
    const need = interceptionNeed(config)
    if (need === null) {
      if (this.#toldNotNeeded) return null
      this.#toldNotNeeded = true
      this.#logger.info('TLS interception not created: no tool needs it', { created_when: 'tls.ca, an HTTPS tool that is not passthrough, or the transparent TLS listener is configured' })
      return null
    }
    this.#pending ??= this.#factory(config).finally(() => { this.#pending = null })
    const interceptor = await this.#pending
    if (this.#closed) interceptor.close()
    else if (this.#current === null) {
      this.#current = interceptor
      this.#logger.info('TLS interception created', { because: need })
    }
    return this.#current
  }

  close(): void {
    this.#closed = true
    this.#current?.close()
  }
}
