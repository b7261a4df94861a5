// Shared by the oauth2_client_credentials and token_exchange providers: one token request
// (grant-specific form fields + client authentication), response validation, and RFC 7009
// revocation.

import { ClientAuth, type ClientAuthConfig } from './client-auth.ts'
import { ProviderError, type IssuedToken, type RevokeResult } from './provider.ts'
import { TokenEndpointClient, oauthError, safeEndpoint } from './token-endpoint.ts'

export interface OAuth2EndpointConfig extends ClientAuthConfig {
  token_url: string
  revocation_url?: string
  ca_file?: string
  max_attempts?: number
}

/** Printable ASCII without spaces: anything else could not be put in a header safely. */
const TOKEN_CHARS = /^[\x21-\x7e]{1,16384}$/

export class OAuth2Endpoint {
  private readonly config: OAuth2EndpointConfig
  private readonly auth: ClientAuth
  private readonly http: TokenEndpointClient
  private readonly onRetry: () => void

  constructor(config: OAuth2EndpointConfig, configDir: string, opts: { onRetry: () => void; connectTimeoutMs: number }) {
    this.config = config
    this.auth = new ClientAuth(config, configDir)
    this.http = new TokenEndpointClient({ configDir, connectTimeoutMs: opts.connectTimeoutMs, ...(config.ca_file ? { caFile: config.ca_file } : {}) })
    this.onRetry = opts.onRetry
  }

  /** POSTs the grant to the token endpoint and returns the validated access token. */
  async requestToken(grant: () => Promise<Record<string, string>>, signal: AbortSignal): Promise<IssuedToken> {
    const url = this.config.token_url
    const endpoint = safeEndpoint(url)
    const res = await this.http.postWithRetries(url, async () => {
      const auth = await this.auth.parts(url)
      return { form: new URLSearchParams({ ...(await grant()), ...auth.form }), headers: auth.headers }
    }, signal, { maxAttempts: this.config.max_attempts ?? 3, baseDelayMs: 100, maxDelayMs: 2000, onRetry: this.onRetry })
    if (res.status !== 200) throw new ProviderError('rejected', `identity provider ${endpoint} refused the token request: ${res.status}${oauthError(res.json)}`, false)
    const token = res.json?.access_token
    if (typeof token !== 'string' || !TOKEN_CHARS.test(token)) throw new ProviderError('rejected', `identity provider ${endpoint} answered without a usable access_token`, false)
    const type = res.json?.token_type
    if (typeof type === 'string' && !/^(bearer|n_a)$/i.test(type)) throw new ProviderError('rejected', `identity provider ${endpoint} issued an unsupported token_type`, false)
    const expiresIn = res.json?.expires_in
    const expiresAt = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null
    return { token, expiresAt }
  }

  async revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult> {
    const url = this.config.revocation_url
    if (!url) return 'not_supported'
    try {
      const res = await this.http.postWithRetries(url, async () => {
        const auth = await this.auth.parts(url)
        return { form: new URLSearchParams({ token: token.token, token_type_hint: 'access_token', ...auth.form }), headers: auth.headers }
      }, signal, { maxAttempts: this.config.max_attempts ?? 3, baseDelayMs: 100, maxDelayMs: 1000 })
      if (res.status === 200) return 'revoked'
      // RFC 7009 §2.2.1: the server does not support revoking this kind of token (e.g. JWTs).
      if (res.status === 400 && res.json?.error === 'unsupported_token_type') return 'not_supported'
      return 'failed'
    } catch {
      return 'failed'
    }
  }

  async close(): Promise<void> {
    await this.http.close()
  }
}
