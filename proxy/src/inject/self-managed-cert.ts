// Self-managed certificate mode: the injector keeps its own CA and serving certificate in a
// Secret, renews them before expiry (at 2/3 of their lifetime), writes the serving pair to local
// files that server.ts reloads, and keeps the MutatingWebhookConfiguration's caBundle in step.
// Several replicas can run this concurrently: the Secret is the single source of truth and writes
// use optimistic concurrency (resourceVersion; 409 → re-read and retry).
// During a CA rotation the caBundle holds both CAs, so the API server trusts the serving
// certificate whichever CA signed it until every replica has reloaded.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../record/log.ts'
import { KubeApiError, type KubeClient } from './kube-client.ts'
import { generateCa, issueServingCert, needsRenewal, notAfter, servingMatches } from './serving-cert.ts'

export interface SelfManagedOptions {
  client: KubeClient
  namespace: string
  secretName: string
  webhookConfigName: string
  /** Names the serving certificate must carry (service.namespace.svc ...). */
  dnsNames: string[]
  ips: string[]
  /** Where tls.crt / tls.key are written for the HTTPS server. */
  certDir: string
  caValidityDays: number
  servingValidityDays: number
  log: Logger
  now?: () => Date
}

interface SecretObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> }
  type?: string
  data?: Record<string, string>
}

interface WebhookConfiguration {
  metadata: { resourceVersion?: string }
  webhooks?: Array<{ name: string; clientConfig: { caBundle?: string } }>
}

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'))

function writeAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, content, { mode })
  renameSync(tmp, path)
}

/** One reconcile pass. Returns the caBundle PEM in force. */
export async function reconcileServingCert(o: SelfManagedOptions): Promise<string> {
  const now = o.now?.() ?? new Date()
  const path = `/api/v1/namespaces/${o.namespace}/secrets/${o.secretName}`
  for (let attempt = 0; attempt < 5; attempt++) {
    let existing: SecretObject | null = null
    try {
      existing = await o.client.call<SecretObject>('GET', path)
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 404) throw err
    }
    const d = existing?.data ?? {}
    let caCert = unb64(d['ca.crt'])
    let caKey = unb64(d['ca.key'])
    let previousCa = unb64(d['ca-previous.crt']) ?? ''
    let servingCert = unb64(d['tls.crt'])
    let servingKey = unb64(d['tls.key'])
    let changed = false
    if (!caCert || !caKey || needsRenewal(caCert, now)) {
      if (caCert && notAfter(caCert) > now) previousCa = caCert // still valid: keep trusting it while replicas reload
      const ca = await generateCa('toolgate injector CA', o.caValidityDays, now)
      caCert = ca.certPem
      caKey = ca.keyPem
      changed = true
      o.log.info('webhook CA generated', { notAfter: notAfter(caCert).toISOString() })
    }
    if (previousCa && notAfter(previousCa) <= now) previousCa = ''
    if (!servingCert || !servingKey || needsRenewal(servingCert, now) || !servingMatches(servingCert, caCert, o.dnsNames)) {
      const s = await issueServingCert({ certPem: caCert, keyPem: caKey }, o.dnsNames, o.ips, o.servingValidityDays, now)
      servingCert = s.certPem
      servingKey = s.keyPem
      changed = true
      o.log.info('webhook serving certificate issued', { notAfter: notAfter(servingCert).toISOString(), dnsNames: o.dnsNames })
    }
    if (changed) {
      const body: SecretObject = {
        metadata: { name: o.secretName, namespace: o.namespace, labels: { 'app.kubernetes.io/managed-by': 'toolgate-injector' } },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(servingCert), 'tls.key': b64(servingKey), 'ca.crt': b64(caCert), 'ca.key': b64(caKey) },
      }
      if (previousCa) body.data!['ca-previous.crt'] = b64(previousCa)
      try {
        if (existing) {
          body.metadata.resourceVersion = existing.metadata.resourceVersion
          await o.client.call('PUT', path, body)
        } else {
          await o.client.call('POST', `/api/v1/namespaces/${o.namespace}/secrets`, body)
        }
      } catch (err) {
        // Another replica won the race: start over from what it stored.
        if (err instanceof KubeApiError && err.status === 409) continue
        throw err
      }
    }
    mkdirSync(o.certDir, { recursive: true, mode: 0o700 })
    writeAtomic(join(o.certDir, 'tls.key'), servingKey, 0o600)
    writeAtomic(join(o.certDir, 'tls.crt'), servingCert, 0o644)
    const bundle = caCert + previousCa
    await patchCaBundle(o, bundle)
    return bundle
  }
  throw new Error(`could not store Secret ${o.namespace}/${o.secretName}: conflicting writers`)
}

async function patchCaBundle(o: SelfManagedOptions, bundlePem: string): Promise<void> {
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${o.webhookConfigName}`
  const want = b64(bundlePem)
  for (let attempt = 0; attempt < 5; attempt++) {
    const cfg = await o.client.call<WebhookConfiguration>('GET', path)
    const hooks = cfg.webhooks ?? []
    if (hooks.every((w) => w.clientConfig.caBundle === want)) return
    for (const w of hooks) w.clientConfig.caBundle = want
    try {
      await o.client.call('PUT', path, cfg)
      o.log.info('webhook caBundle updated', { webhookConfiguration: o.webhookConfigName, webhooks: hooks.length })
      return
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) continue
      throw err
    }
  }
  throw new Error(`could not update caBundle of ${o.webhookConfigName}: conflicting writers`)
}
