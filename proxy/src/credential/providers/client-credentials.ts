// `oauth2_client_credentials` (RFC 6749 §4.4): the sidecar's own client identity gets a token
// for the tool. Scopes come from the tool (narrowed by the policy) or else the provider; the
// tool's `resource` (RFC 8707) and `audience` are sent when set. oauth4webapi sends the request.

import type { OAuth2ClientCredentialsProvider } from '../../config/schema.gen.ts'
import * as oauth from 'oauth4webapi'
import { OAuth2Endpoint } from './oauth2.ts'
import type { IssueRequest, IssuedToken, RevokeResult, TokenProvider } from './provider.ts'

export class ClientCredentialsProvider implements TokenProvider {
  readonly type = 'oauth2_client_credentials'
  private readonly endpoint: OAuth2Endpoint

  constructor(config: OAuth2ClientCredentialsProvider, configDir: string, opts: { onRetry: () => void; connectTimeoutMs: number }) {
    this.endpoint = new OAuth2Endpoint(config, configDir, opts)
  }

  issue(req: IssueRequest): Promise<IssuedToken> {
    const params: Record<string, string> = {}
    if (req.scopes.length > 0) params.scope = req.scopes.join(' ')
    if (req.resource) params.resource = req.resource
    if (req.audience) params.audience = req.audience
    return this.endpoint.requestToken({
      send: (as, client, auth, options) => oauth.clientCredentialsGrantRequest(as, client, auth, params, options),
      process: (as, client, res, options) => oauth.processClientCredentialsResponse(as, client, res, options),
    }, req.signal)
  }

  revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult> {
    return this.endpoint.revoke(token, signal)
  }

  close(): Promise<void> {
    return this.endpoint.close()
  }
}
