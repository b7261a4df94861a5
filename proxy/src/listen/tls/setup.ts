// Builds TLS interception from the config: the per-pod CA (generated or mounted, its certificate
// published for the agent), the leaf cache and the interceptor. The composition root calls this
// once at start; the CA lives as long as the process (a reload does not replace it, because the
// agent has already loaded the published certificate).

import { resolve } from 'node:path'
import { rootCertificates } from 'node:tls'
import type { Registry } from 'prom-client'
import { CertificateAuthority } from './ca.ts'
import { LeafCache } from './leaf-cache.ts'
import { publishTrustFiles } from './trust-files.ts'
import { TlsInterceptor, type InterceptedRequestHandler } from './interceptor.ts'
import { interceptorLimits } from '../interception.ts'
import type { ResolvedConfig } from '../../config/resolved.ts'
import type { Logger } from '../../record/log.ts'

export interface TlsInterception {
  ca: CertificateAuthority
  leafCache: LeafCache
  interceptor: TlsInterceptor
}

export async function createTlsInterception(opts: { config: ResolvedConfig; pipeline: InterceptedRequestHandler; logger: Logger; registry?: Registry }): Promise<TlsInterception> {
  const { config } = opts
  const caCfg = config.tls.ca ?? {}
  const dir = config.source.dir
  const ca = await CertificateAuthority.create({
    ...(caCfg.cert_file !== undefined ? { certFile: resolve(dir, caCfg.cert_file) } : {}),
    ...(caCfg.key_file !== undefined ? { keyFile: resolve(dir, caCfg.key_file) } : {}),
    ...(caCfg.validity_hours !== undefined ? { validityHours: caCfg.validity_hours } : {}),
  })
  const bundle = caCfg.publish_cert_to !== undefined ? resolve(dir, caCfg.publish_cert_to) : undefined
  if (bundle !== undefined) await ca.publish(bundle, rootCertificates)
  // Java's truststore and wget's wgetrc, for runtimes that ignore SSL_CERT_FILE (docs/clients.md).
  await publishTrustFiles(ca.certPem, rootCertificates, {
    ...(bundle !== undefined ? { bundle } : {}),
    ...(caCfg.publish_truststore_to !== undefined ? { truststore: resolve(dir, caCfg.publish_truststore_to) } : {}),
    ...(caCfg.publish_wgetrc_to !== undefined ? { wgetrc: resolve(dir, caCfg.publish_wgetrc_to) } : {}),
  })
  opts.logger.info('TLS interception CA ready', {
    origin: ca.origin, subject: ca.subject, not_after: ca.notAfter.toISOString(), published_to: caCfg.publish_cert_to ?? null,
    truststore: caCfg.publish_truststore_to ?? null, wgetrc: caCfg.publish_wgetrc_to ?? null,
  })
  const leafCache = new LeafCache({ ca, maxEntries: config.tls.leaf_cache_size, ...(opts.registry ? { registry: opts.registry } : {}) })
  const interceptor = new TlsInterceptor({
    leafCache,
    pipeline: opts.pipeline,
    logger: opts.logger.child({ component: 'tls' }),
    limits: interceptorLimits(config),
    ...(opts.registry ? { registry: opts.registry } : {}),
  })
  return { ca, leafCache, interceptor }
}
