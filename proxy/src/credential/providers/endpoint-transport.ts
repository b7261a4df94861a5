// The HTTP transport under oauth4webapi (its customFetch): undici with the provider's own CA
// (ca_file), connect/header/body timeouts and a bounded response (a token endpoint that streams
// without end cannot exhaust memory). Plus the retry policy around one endpoint request:
// exponential backoff with full jitter on network errors, 429 and 5xx, the caller's signal
// bounding attempts and waits. Error messages carry the endpoint, status and OAuth `error` code
// only: a response body may echo secrets, so it is never quoted.

import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { Agent, request } from 'undici'
import { ProviderError } from './provider.ts'

export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024

export interface RetryPolicy {
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** Called before each retry (metrics). */
  onRetry?: () => void
}

/** The shape oauth4webapi hands its customFetch. */
export interface FetchOptions {
  method: string
  headers: Record<string, string>
  body: URLSearchParams
  signal?: AbortSignal
}

export class EndpointTransport {
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

  /** oauth4webapi's customFetch: one request, the body read whole but bounded. */
  readonly fetch = async (url: string, options: FetchOptions): Promise<Response> => {
    const endpoint = safeEndpoint(url)
    const signal = options.signal ?? AbortSignal.timeout(30_000)
    let res
    try {
      res = await request(url, { method: 'POST', body: options.body.toString(), headers: options.headers, dispatcher: this.dispatcher, signal })
    } catch (err) {
      if (signal.aborted) throw new ProviderError('timeout', `identity provider ${endpoint} did not answer in time`, false)
      const code = (err as { code?: string }).code ?? (err as Error).name
      throw new ProviderError('unavailable', `identity provider ${endpoint} unreachable (${code})`, true)
    }
    const chunks: Buffer[] = []
    try {
      let size = 0
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > MAX_TOKEN_RESPONSE_BYTES) {
          res.body.destroy()
          throw new ProviderError('unavailable', `identity provider ${endpoint} answered more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`, false)
        }
        chunks.push(chunk as Buffer)
      }
    } catch (err) {
      if (err instanceof ProviderError) throw err
      if (signal.aborted) throw new ProviderError('timeout', `identity provider ${endpoint} did not answer in time`, false)
      throw new ProviderError('unavailable', `identity provider ${endpoint} response failed (${(err as { code?: string }).code ?? 'error'})`, true)
    }
    const headers = new Headers()
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
    }
    // 1xx/204/304 cannot carry a body in a Response; token endpoints never answer them, but the
    // status must still reach the caller as it is (it is refused as not conform there).
    const noBody = res.statusCode === 204 || res.statusCode === 205 || res.statusCode === 304
    return new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode < 200 || res.statusCode > 599 ? 502 : res.statusCode, headers })
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => {})
  }
}

/**
 * Sends (a fresh request per attempt: new client assertion, re-read subject token) until an
 * answer that is not 429/5xx, a non-retryable error, the attempts run out or the signal fires.
 */
export async function withRetries(endpointUrl: string, send: () => Promise<Response>, signal: AbortSignal, retry: RetryPolicy): Promise<Response> {
  const endpoint = safeEndpoint(endpointUrl)
  let last: ProviderError | null = null
  for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
    if (attempt > 1) {
      retry.onRetry?.()
      const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 2))
      await sleep(Math.random() * cap, signal).catch(() => {})
      if (signal.aborted) break
    }
    try {
      const res = await send()
      if (res.status === 429 || res.status >= 500) {
        last = new ProviderError('unavailable', `identity provider ${endpoint} answered ${res.status}${oauthError(await jsonOf(res))}`, true)
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

/**
 * Registered OAuth error codes (RFC 6749 §5.2, RFC 6750, RFC 7009, RFC 8693/8707, RFC 8628,
 * RFC 9449, OpenID Connect). The `error` member is the server's text: a careless or hostile
 * server can put anything there, a secret it was sent included, so only these are quoted.
 */
const OAUTH_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'access_denied', 'unsupported_response_type', 'server_error', 'temporarily_unavailable', 'invalid_token', 'insufficient_scope',
  'unsupported_token_type', 'invalid_target', 'authorization_pending', 'slow_down', 'expired_token', 'invalid_dpop_proof',
  'use_dpop_nonce', 'interaction_required', 'login_required', 'consent_required', 'account_selection_required',
  'invalid_request_uri', 'invalid_request_object', 'request_not_supported', 'invalid_client_metadata', 'invalid_authorization_details',
])

/** ` (error=invalid_client)` for a registered OAuth error code, ` (error=unrecognised)` for any other; '' without one. */
export function oauthError(json: unknown): string {
  const e = json !== null && typeof json === 'object' ? (json as { error?: unknown }).error : undefined
  if (typeof e !== 'string') return ''
  return OAUTH_ERRORS.has(e) ? ` (error=${e})` : ' (error=unrecognised)'
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

async function jsonOf(res: Response): Promise<unknown> {
  try {
    return await res.json()
  } catch {
    return null
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
