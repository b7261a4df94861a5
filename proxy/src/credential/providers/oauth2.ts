// Shared by the oauth2_client_credentials and token_exchange providers: one token request and
// one RFC 7009 revocation, by oauth4webapi (request encoding, client authentication, response
// validation). toolgate adds what oauth4webapi leaves to its caller: the transport (per-provider
// CA, timeouts, bounded bodies), retries, and errors that name endpoint, status and OAuth error
// code but never a body or secret. Tokens must be printable ASCII without spaces (they go into
// a header); `n_a` is accepted as token_type for RFC 8693 results that are not access tokens.

import * as oauth from 'oauth4webapi'
import { ClientAuth, type ClientAuthConfig } from './client-auth.ts'
import { EndpointTransport, oauthError, safeEndpoint, withRetries, type RetryPolicy } from './endpoint-transport.ts'
import { ProviderError, type IssuedToken, type RevokeResult } from './provider.ts'

export interface OAuth2EndpointConfig extends ClientAuthConfig {
  token_url: string
  revocation_url?: string
  ca_file?: string
  max_attempts?: number
}

/** Printable ASCII without spaces: anything else could not be put in a header safely. */
const TOKEN_CHARS = /^[\x21-\x7e]{1,16384}$/
/** RFC 8693 §2.2.1: token_type N_A when the issued token is not an access token. */
const TOKEN_TYPES: oauth.RecognizedTokenTypes = { n_a: () => {} }

/** A grant: what to send (one attempt) and how oauth4webapi validates the answer. */
export interface Grant {
  send(as: oauth.AuthorizationServer, client: oauth.Client, auth: oauth.ClientAuth, options: oauth.TokenEndpointRequestOptions): Promise<Response>
  process(as: oauth.AuthorizationServer, client: oauth.Client, res: Response, options: oauth.ProcessTokenResponseOptions): Promise<oauth.TokenEndpointResponse>
}

export class OAuth2Endpoint {
  private readonly config: OAuth2EndpointConfig
  private readonly as: oauth.AuthorizationServer
  private readonly client: oauth.Client
  private readonly auth: ClientAuth
  private readonly transport: EndpointTransport
  private readonly onRetry: () => void
  private readonly insecure: boolean

  constructor(config: OAuth2EndpointConfig, configDir: string, opts: { onRetry: () => void; connectTimeoutMs: number }) {
    this.config = config
    let origin: string
    try {
      origin = new URL(config.token_url).origin
    } catch {
      throw new ProviderError('config', 'token_url is not a URL', false)
    }
    // The issuer identifier only matters for ID tokens and assertion audiences, neither of which
    // toolgate uses (assertions name the endpoint); the token URL's origin stands in for it.
    this.as = { issuer: origin, token_endpoint: config.token_url, ...(config.revocation_url ? { revocation_endpoint: config.revocation_url } : {}) }
    this.client = { client_id: config.client_id }
    this.auth = new ClientAuth(config, configDir)
    this.transport = new EndpointTransport({ configDir, connectTimeoutMs: opts.connectTimeoutMs, ...(config.ca_file ? { caFile: config.ca_file } : {}) })
    this.onRetry = opts.onRetry
    // http:// endpoints are the operator's choice (an in-cluster IdP without TLS); oauth4webapi
    // refuses them unless told.
    this.insecure = [config.token_url, config.revocation_url].some((u) => u?.startsWith('http:'))
  }

  /** Sends the grant to the token endpoint (with retries) and returns the validated access token. */
  async requestToken(grant: Grant, signal: AbortSignal): Promise<IssuedToken> {
    const url = this.config.token_url
    const endpoint = safeEndpoint(url)
    const res = await withRetries(url, async () => grant.send(this.as, this.client, await this.auth.forEndpoint(url), this.requestOptions(signal)), signal, this.retry(2000, this.onRetry))
    let body: oauth.TokenEndpointResponse
    try {
      body = await grant.process(this.as, this.client, res, { recognizedTokenTypes: TOKEN_TYPES })
    } catch (err) {
      throw refusal(err, endpoint, res.status)
    }
    const token = body.access_token
    if (!TOKEN_CHARS.test(token)) throw new ProviderError('rejected', `identity provider ${endpoint} answered without a usable access_token`, false)
    const expiresIn = body.expires_in
    const expiresAt = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null
    return { token, expiresAt }
  }

  async revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult> {
    const url = this.config.revocation_url
    if (!url) return 'not_supported'
    try {
      const res = await withRetries(url, async () => oauth.revocationRequest(this.as, this.client, await this.auth.forEndpoint(url), token.token, {
        ...this.requestOptions(signal),
        additionalParameters: { token_type_hint: 'access_token' },
      }), signal, this.retry(1000))
      await oauth.processRevocationResponse(res)
      return 'revoked'
    } catch (err) {
      // RFC 7009 §2.2.1: the server does not support revoking this kind of token (e.g. JWTs).
      if (err instanceof oauth.ResponseBodyError && err.error === 'unsupported_token_type') return 'not_supported'
      return 'failed'
    }
  }

  async close(): Promise<void> {
    await this.transport.close()
  }

  private requestOptions(signal: AbortSignal): oauth.TokenEndpointRequestOptions {
    return { signal, [oauth.customFetch]: this.transport.fetch, ...(this.insecure ? { [oauth.allowInsecureRequests]: true } : {}) }
  }

  private retry(maxDelayMs: number, onRetry?: () => void): RetryPolicy {
    return { maxAttempts: this.config.max_attempts ?? 3, baseDelayMs: 100, maxDelayMs, ...(onRetry ? { onRetry } : {}) }
  }
}

/** oauth4webapi's verdict on a token response, as a ProviderError that quotes no body. */
function refusal(err: unknown, endpoint: string, status: number): ProviderError {
  if (err instanceof ProviderError) return err
  if (err instanceof oauth.ResponseBodyError) return new ProviderError('rejected', `identity provider ${endpoint} refused the token request: ${status}${oauthError({ error: err.error })}`, false)
  if (err instanceof oauth.WWWAuthenticateChallengeError) return new ProviderError('rejected', `identity provider ${endpoint} refused the token request: ${status} (authentication challenge)`, false)
  if (err instanceof oauth.UnsupportedOperationError) return new ProviderError('rejected', `identity provider ${endpoint} issued an unsupported token_type`, false)
  if (err instanceof oauth.OperationProcessingError && err.code === oauth.RESPONSE_IS_NOT_CONFORM) return new ProviderError('rejected', `identity provider ${endpoint} refused the token request: ${status}`, false)
  return new ProviderError('rejected', `identity provider ${endpoint} answered without a usable access_token`, false)
}
