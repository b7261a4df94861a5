// HTTP client for OAuth2 token and revocation endpoints (RFC 6749 §3.2, RFC 7009): form POST via
// undici with connect/header/body timeouts, a bounded response size, retries with exponential
// backoff and full jitter on network errors, 429 and 5xx. Error messages carry the endpoint,
// status and OAuth `error` code only: a response body may echo secrets, so it is never quoted.

import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { Agent, request } from 'undici'
import { ProviderError } from './provider.ts'

export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024

export interface EndpointResponse {
  status: number
  json: Record<string, unknown> | null
}

export interface RetryPolicy {
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** Called before each retry (metrics). */
  onRetry?: () => void
}

export class TokenEndpointClient {
  private readonly dispatcher: Agent

  /** Throws (naming the file) when ca_file cannot be read: the provider is then unusable. */
  constructor(opts: { caFile?: string; configDir: string; connectTimeoutMs: number }) {
    let ca: string | undefined
    if (opts.caFile) {
      const path = isAbsolute(opts.caFile) ? opts.caFile : resolve(opts.configDir, opts.caFile)
      try {
        ca = readFileSync(path, 'utf8')
      } catch {
        throw new ProviderError('config', `cannot read ca_file ${path}`, false)
      }
    }
    this.dispatcher = new Agent({
      connect: { ...(ca ? { ca } : {}), timeout: opts.connectTimeoutMs, rejectUnauthorized: true },
      headersTimeout: opts.connectTimeoutMs * 4,
      bodyTimeout: opts.connectTimeoutMs * 4,
      keepAliveTimeout: 10_000,
      connections: 16,
    })
  }

  /** One form POST; throws ProviderError (retryable for network errors, 429 and 5xx). */
  async post(url: string, form: URLSearchParams, headers: Record<string, string>, signal: AbortSignal): Promise<EndpointResponse> {
    const endpoint = safeEndpoint(url)
    let res
    try {
      res = await request(url, {
        method: 'POST',
        body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
        dispatcher: this.dispatcher,
        signal,
      })
    } catch (err) {
      if (signal.aborted) throw new ProviderError('timeout', `identity provider ${endpoint} did not answer in time`, false)
      const code = (err as { code?: string }).code ?? (err as Error).name
      throw new ProviderError('unavailable', `identity provider ${endpoint} unreachable (${code})`, true)
    }
    let text = ''
    try {
      let size = 0
      const chunks: Buffer[] = []
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > MAX_TOKEN_RESPONSE_BYTES) {
          res.body.destroy()
          throw new ProviderError('unavailable', `identity provider ${endpoint} answered more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`, false)
        }
        chunks.push(chunk as Buffer)
      }
      text = Buffer.concat(chunks).toString('utf8')
    } catch (err) {
      if (err instanceof ProviderError) throw err
      if (signal.aborted) throw new ProviderError('timeout', `identity provider ${endpoint} did not answer in time`, false)
      throw new ProviderError('unavailable', `identity provider ${endpoint} response failed (${(err as { code?: string }).code ?? 'error'})`, true)
    }
    let json: Record<string, unknown> | null = null
    try {
      const parsed: unknown = JSON.parse(text)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>
    } catch {
      json = null
    }
    return { status: res.statusCode, json }
  }

  /** post() with retries; the caller's signal bounds the whole thing (attempts and waits). */
  async postWithRetries(url: string, form: () => Promise<{ form: URLSearchParams; headers: Record<string, string> }>, signal: AbortSignal, retry: RetryPolicy): Promise<EndpointResponse> {
    const endpoint = safeEndpoint(url)
    let last: ProviderError | null = null
    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      if (attempt > 1) {
        retry.onRetry?.()
        const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 2))
        await sleep(Math.random() * cap, signal).catch(() => {})
        if (signal.aborted) break
      }
      // Rebuilt per attempt: client assertions carry a fresh jti, subject tokens are re-read.
      const req = await form()
      try {
        const res = await this.post(url, req.form, req.headers, signal)
        if (res.status === 429 || res.status >= 500) {
          last = new ProviderError('unavailable', `identity provider ${endpoint} answered ${res.status}${oauthError(res.json)}`, true)
          continue
        }
        return res
      } catch (err) {
        if (!(err instanceof ProviderError)) throw err
        last = err
        if (!err.retryable) throw err
      }
    }
    if (signal.aborted) throw new ProviderError('timeout', `identity provider ${endpoint} did not answer in time${last ? ` (last: ${last.message})` : ''}`, false)
    throw last ?? new ProviderError('unavailable', `identity provider ${endpoint} failed`, false)
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => {})
  }
}

/** ` (error=invalid_client)` when the body is an OAuth error, sanitised; '' otherwise. */
export function oauthError(json: Record<string, unknown> | null): string {
  const e = json?.error
  if (typeof e !== 'string') return ''
  const code = e.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64)
  return code ? ` (error=${code})` : ''
}

/** scheme://host[:port]/path of a URL, without userinfo or query (which could hold secrets). */
export function safeEndpoint(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(invalid url)'
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(t); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
