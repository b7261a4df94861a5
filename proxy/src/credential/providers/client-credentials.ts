// `oauth2_client_credentials` (RFC 6749 §4.4): the sidecar's own client identity gets a token
// for the tool. Scopes come from the tool (narrowed by the policy) or else the provider; the
// tool's `resource` (RFC 8707) and `audience` are sent when set.

import type { OAuth2ClientCredentialsProvider } from '../../config/schema.gen.ts'
import { OAuth2Endpoint } from './oauth2.ts'
import type { IssueRequest, IssuedToken, RevokeResult, TokenProvider } from './provider.ts'

export class ClientCredentialsProvider implements TokenProvider {
  readonly type = 'oauth2_client_credentials'
  private readonly endpoint: OAuth2Endpoint

  constructor(config: OAuth2ClientCredentialsProvider, configDir: string, opts: { onRetry: () => void; connectTimeoutMs: number }) {
    this.endpoint = new OAuth2Endpoint(config, configDir, opts)
  }

  issue(req: IssueRequest): Promise<IssuedToken> {
    return this.endpoint.requestToken(async () => {
      const form: Record<string, string> = { grant_type: 'client_credentials' }
      if (req.scopes.length > 0) form.scope = req.scopes.join(' ')
      if (req.resource) form.resource = req.resource
      if (req.audience) form.audience = req.audience
      return form
    }, req.signal)
  }

  revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult> {
    return this.endpoint.revoke(token, signal)
  }

  close(): Promise<void> {
    return this.endpoint.close()
  }
}
