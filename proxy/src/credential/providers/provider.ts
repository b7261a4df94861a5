// The contract between the credential broker and one configured provider. A provider turns an
// IssueRequest into a token; the broker owns caching, lifetimes, records and metrics.

import type { PolicyInput } from '../../decide/policy-input.ts'

export interface IssueRequest {
  tool: string
  audience: string | null
  resource: string | null
  scopes: string[]
  /** Epoch ms the token must not outlive (task end, policy TTL); null when nothing bounds it. */
  notAfter: number | null
  agent: PolicyInput['agent']
  taskId: string | null
  /** Aborts the fetch: the broker's deadline, or the caller giving up. */
  signal: AbortSignal
}

export interface IssuedToken {
  /** The secret. Only ever placed into the injected header. */
  token: string
  /** Epoch ms when the issuer says the token expires; null when it does not say. */
  expiresAt: number | null
  /** For file-backed secrets: the file version the token came from (stale when it changes). */
  version?: string
}

export type RevokeResult = 'revoked' | 'not_supported' | 'failed'

export interface TokenProvider {
  readonly type: string
  issue(req: IssueRequest): Promise<IssuedToken>
  /** RFC 7009 revocation where the provider supports it. Never throws. */
  revoke(token: IssuedToken, signal: AbortSignal): Promise<RevokeResult>
  /** False when the token no longer reflects its source (a rotated secret file). */
  isCurrent?(token: IssuedToken): Promise<boolean>
  close(): Promise<void>
}

/**
 * A failure the broker turns into a 503. `message` is safe to record and show: it names the
 * provider's endpoint, the HTTP status and the OAuth error code, never a secret or a token.
 */
export class ProviderError extends Error {
  readonly retryable: boolean
  readonly kind: 'timeout' | 'unavailable' | 'rejected' | 'config'

  constructor(kind: ProviderError['kind'], message: string, retryable: boolean) {
    super(message)
    this.name = 'ProviderError'
    this.kind = kind
    this.retryable = retryable
  }
}
