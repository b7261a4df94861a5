// `toolgate inject`: serves the mutating admission webhook. cli.ts dispatches to injectCommand.
// Runs until SIGTERM/SIGINT, then stops accepting and drains (bounded) before returning 0.

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createLogger, type LogLevel } from '../record/log.ts'
import { inClusterOptions, KubeClient, type KubeClientOptions } from './kube-client.ts'
import { reconcileServingCert } from './self-managed-cert.ts'
import { startWebhookServer } from './server.ts'
import { defaultSettings, loadSettingsFile } from './settings.ts'
import { parseListenAddress } from '../listen/listen-address.ts'
import type { Command } from '../commands/command.ts'

export const USAGE = `usage: toolgate inject [options]

Serve the Kubernetes mutating admission webhook that injects the toolgate sidecar
(POST /inject/pod, POST /inject/namespace; GET /healthz, /readyz).

options:
  --settings FILE        injector settings (YAML; docs/kubernetes.md). Default: built-in defaults
  --listen HOST:PORT     HTTPS listener (default 0.0.0.0:9443)
  --cert-file FILE       serving certificate (PEM; re-read when it changes)
                         (default /etc/toolgate-injector/tls/tls.crt)
  --key-file FILE        serving key (default /etc/toolgate-injector/tls/tls.key)
  --namespace NS         the injector's own namespace, never injected (default $POD_NAMESPACE)
  --log-level LEVEL      debug|info|warn|error (default info)

self-managed serving certificate (the injector generates, stores and rotates it):
  --self-managed-cert    enable; cert/key are then written to --cert-dir
  --cert-dir DIR         where the serving pair is written (default /tmp/toolgate-injector-tls)
  --secret-name NAME     Secret holding CA + serving cert (default toolgate-injector-tls)
  --webhook-config NAME  MutatingWebhookConfiguration whose caBundle is kept current
  --service-name NAME    Service in front of the injector (certificate DNS names)
  --extra-dns NAMES      more DNS names for the certificate, comma-separated
  --extra-ips IPS        IP SANs for the certificate, comma-separated
  --rotate-check SECONDS how often the certificate is checked (default 3600)
  --kube-server URL      API server (default: in-cluster)
  --kube-token-file FILE bearer token file (default: in-cluster service-account token)
  --kube-ca-file FILE    API server CA (default: in-cluster CA)
  -h, --help             this help
`

export const injectCommand: Command = {
  summary: 'serve the Kubernetes mutating admission webhook that injects the sidecar',
  usage: USAGE,
  ownHelp: true,
  run: (argv) => main(argv),
}

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      settings: { type: 'string' },
      listen: { type: 'string', default: '0.0.0.0:9443' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      namespace: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'self-managed-cert': { type: 'boolean', default: false },
      'cert-dir': { type: 'string', default: '/tmp/toolgate-injector-tls' },
      'secret-name': { type: 'string', default: 'toolgate-injector-tls' },
      'webhook-config': { type: 'string' },
      'service-name': { type: 'string' },
      'extra-dns': { type: 'string', default: '' },
      'extra-ips': { type: 'string', default: '' },
      'rotate-check': { type: 'string', default: '3600' },
      'kube-server': { type: 'string' },
      'kube-token-file': { type: 'string' },
      'kube-ca-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const level = v['log-level'] as LogLevel
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    process.stderr.write(`toolgate inject: --log-level must be debug, info, warn or error\n`)
    return 2
  }
  const log = createLogger({ level, base: { component: 'injector' } })
  const address = parseListenAddress('--listen', v.listen)
  if (address instanceof Error) {
    process.stderr.write(`toolgate inject: ${address.message}\n`)
    return 2
  }
  const { host, port } = address

  let settings
  try {
    settings = v.settings ? loadSettingsFile(v.settings) : defaultSettings()
  } catch (err) {
    process.stderr.write(`toolgate inject: ${(err as Error).message}\n`)
    return 2
  }
  const ownNamespace = v.namespace ?? process.env['POD_NAMESPACE']
  if (ownNamespace && !settings.skipNamespaces.includes(ownNamespace)) settings.skipNamespaces.push(ownNamespace)

  let certFile = v['cert-file'] ?? '/etc/toolgate-injector/tls/tls.crt'
  let keyFile = v['key-file'] ?? '/etc/toolgate-injector/tls/tls.key'
  let stopRotation = (): void => {}
  let client: KubeClient | null = null
  if (v['self-managed-cert']) {
    const missing = ['webhook-config', 'service-name'].filter((k) => !v[k as 'webhook-config'])
    if (!ownNamespace) missing.push('namespace')
    if (missing.length > 0) {
      process.stderr.write(`toolgate inject: --self-managed-cert needs ${missing.map((k) => `--${k}`).join(', ')}\n`)
      return 2
    }
    let kube: KubeClientOptions
    try {
      kube = v['kube-server']
        ? { server: v['kube-server'], ...(v['kube-token-file'] ? { tokenFile: v['kube-token-file'] } : {}), ...(v['kube-ca-file'] ? { caPem: readFileSync(v['kube-ca-file'], 'utf8') } : {}) }
        : inClusterOptions()
    } catch (err) {
      process.stderr.write(`toolgate inject: ${(err as Error).message}\n`)
      return 2
    }
    client = new KubeClient(kube)
    const svc = v['service-name']!
    const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)
    const opts = {
      client,
      namespace: ownNamespace!,
      secretName: v['secret-name'],
      webhookConfigName: v['webhook-config']!,
      dnsNames: [`${svc}.${ownNamespace}.svc`, `${svc}.${ownNamespace}.svc.cluster.local`, `${svc}.${ownNamespace}`, svc, ...list(v['extra-dns'])],
      ips: list(v['extra-ips']),
      certDir: v['cert-dir'],
      caValidityDays: 3650,
      servingValidityDays: 90,
      log,
    }
    await reconcileServingCert(opts)
    certFile = `${opts.certDir}/tls.crt`
    keyFile = `${opts.certDir}/tls.key`
    const seconds = Number(v['rotate-check'])
    if (!Number.isFinite(seconds) || seconds < 1) {
      process.stderr.write('toolgate inject: --rotate-check must be a positive number of seconds\n')
      return 2
    }
    const timer = setInterval(() => {
      reconcileServingCert(opts).catch((err: unknown) => log.error('certificate reconcile failed', { error: (err as Error).message }))
    }, seconds * 1000)
    stopRotation = () => clearInterval(timer)
  }

  const server = await startWebhookServer({ host, port, certFile, keyFile, settings, log })
  log.info('injector listening', { host, port: server.port, mode: settings.mode, nativeSidecar: settings.nativeSidecar })
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  log.info('injector stopping', { signal })
  stopRotation()
  await Promise.race([server.close(), new Promise((r) => setTimeout(r, 10_000).unref())])
  await client?.close()
  return 0
}
