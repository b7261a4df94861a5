// `token_exchange` (RFC 8693): the pod's projected service-account token is the subject token,
// re-read from its file on every exchange (the kubelet rotates it). When an actor token is
// configured (one agent acting for another) it is sent too, so the issued token carries the
// delegation chain in its `act` claim. Audience, resource and scope come per tool. oauth4webapi
// sends the request (genericTokenEndpointRequest) and validates the answer.

import type { TokenExchangeProvider } from '../../config/schema.gen.ts'
import * as oauth from 'oauth4webapi'
import { SecretFile } from '../secret-file.ts'
import { OAuth2Endpoint } from './oauth2.ts'
import { ProviderError, type IssueRequest, type IssuedToken, type RevokeResult, type TokenProvider } from './provider.ts'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export class TokenExchangeTokenProvider implements TokenProvider {
  readonly type = 'token_exchange'
  private readonly config: TokenExchangeProvider
  private readonly endpoint: OAuth2Endpoint
  private readonly subject: SecretFile
  private readonly actor: SecretFile | null

  constructor(config: TokenExchangeProvider, configDir: string, opts: { onRetry: () => void; connectTimeoutMs: number }) {
    this.config = config
    this.endpoint = new OAuth2Endpoint(config, configDir, opts)
    // checkMs 0: stat on every exchange, so a rotated projected token is used at once.
    this.subject = new SecretFile(config.subject_token_file, configDir, { checkMs: 0 })
    this.actor = config.actor_token_file ? new SecretFile(config.actor_token_file, configDir, { checkMs: 0 }) : null
  }

  issue(req: IssueRequest): Promise<IssuedToken> {
    return this.endpoint.requestToken({
      // Re-read per attempt: the kubelet may have rotated the projected token since the last one.
      send: async (as, client, auth, options) => oauth.genericTokenEndpointRequest(as, client, auth, TOKEN_EXCHANGE_GRANT, await this.parameters(req), options),
      process: (as, client, res, options) => oauth.processGenericTokenEndpointResponse(as, client, res, options),
    }, req.signal)
  }

  private async parameters(req: IssueRequest): Promise<Record<string, string>> {
    const form: Record<string, string> = {
      subject_token: await readToken(this.subject),
      subject_token_type: this.config.subject_token_type ?? JWT_TOKEN_TYPE,
      requested_token_type: this.config.requested_token_type ?? ACCESS_TOKEN_TYPE,
    }
    if (this.actor) {
      form.actor_token = await readToken(this.actor)
      form.actor_token_type = this.config.actor_token_type ?? JWT_TOKEN_TYPE
    }
    if (req.audience) form.audience = req.audience
    if (req.resource) form.resource = req.resource
    if (req.scopes.length > 0) form.scope = req.scopes.join(' ')
    return form
  }

  revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult> {
    return this.endpoint.revoke(token, signal)
  }

  close(): Promise<void> {
    return this.endpoint.close()
  }
}

async function readToken(file: SecretFile): Promise<string> {
  try {
    return (await file.read()).value
  } catch (err) {
    throw new ProviderError('config', (err as Error).message, false)
  }
}
