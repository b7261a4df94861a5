// A deliberately small Kubernetes API client for the three calls the self-managed certificate
// mode needs (get/create/replace a Secret, get/replace a MutatingWebhookConfiguration). undici
// with the pod's service-account token (re-read per call: it is rotated by the kubelet) and the
// cluster CA. Every call has a timeout; errors carry the status and the API's message, never the
// token.

import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'

export interface KubeClientOptions {
  /** https://host:port of the API server. */
  server: string
  /** Bearer token source (file re-read on each call) or a fixed token. */
  tokenFile?: string
  token?: string
  caPem?: string
  timeoutMs?: number
}

export class KubeApiError extends Error {
  override name = 'KubeApiError'
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** In-cluster options from KUBERNETES_SERVICE_HOST/PORT and the mounted service-account files. */
export function inClusterOptions(): KubeClientOptions {
  const host = process.env['KUBERNETES_SERVICE_HOST']
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443'
  if (!host) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset); pass --kube-server')
  const h = host.includes(':') ? `[${host}]` : host
  return { server: `https://${h}:${port}`, tokenFile: `${SA_DIR}/token`, caPem: readFileSync(`${SA_DIR}/ca.crt`, 'utf8') }
}

export class KubeClient {
  readonly #o: KubeClientOptions
  readonly #agent: Agent

  constructor(o: KubeClientOptions) {
    this.#o = o
    this.#agent = new Agent({ connect: o.caPem ? { ca: o.caPem } : {}, connections: 4 })
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    const token = this.#o.tokenFile ? readFileSync(this.#o.tokenFile, 'utf8').trim() : this.#o.token
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token) headers['authorization'] = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const timeout = this.#o.timeoutMs ?? 10_000
    const res = await request(new URL(path, this.#o.server), {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      dispatcher: this.#agent,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    })
    const text = await res.body.text()
    if (res.statusCode >= 300) {
      let message = text.slice(0, 300)
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message
      } catch { /* not a Status object */ }
      throw new KubeApiError(res.statusCode, `${method} ${path}: ${res.statusCode} ${message}`)
    }
    return JSON.parse(text) as T
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}
