// `jwt`: toolgate signs a short-lived token itself (ES256). Claims: iss = provider issuer,
// sub = workload identity (SPIFFE ID, else system:serviceaccount:<ns>:<sa>), aud = the tool's
// audience (policy may narrow) or the tool name, scope, task_id, tool, jti; exp never past the
// task's end or the policy's TTL. Verifiers fetch the JWKS from the admin listener. Self-signed
// tokens cannot be revoked (there is no issuer-side state); their short lifetime bounds them.
// jose is loaded on first use (jwt-keys.ts makes the keys when the provider is initialised).

import { randomUUID } from 'node:crypto'
import type { JwtProvider } from '../../config/schema.gen.ts'
import type { PolicyInput } from '../../decide/policy-input.ts'
import { JwtKeyRing } from '../jwt-keys.ts'
import { ProviderError, type IssueRequest, type IssuedToken, type RevokeResult, type TokenProvider } from './provider.ts'

export const DEFAULT_JWT_TTL_S = 300
export const DEFAULT_KEY_ROTATION_S = 3600

export class JwtTokenProvider implements TokenProvider {
  readonly type = 'jwt'
  readonly keys: JwtKeyRing
  private readonly config: JwtProvider
  private readonly now: () => number

  constructor(config: JwtProvider, opts: { now?: () => number } = {}) {
    this.config = config
    this.now = opts.now ?? Date.now
    this.keys = new JwtKeyRing({ rotationS: config.key_rotation_s ?? DEFAULT_KEY_ROTATION_S, maxTokenTtlS: config.ttl_s ?? DEFAULT_JWT_TTL_S, now: this.now })
  }

  async issue(req: IssueRequest): Promise<IssuedToken> {
    const nowMs = this.now()
    let expMs = nowMs + (this.config.ttl_s ?? DEFAULT_JWT_TTL_S) * 1000
    if (req.notAfter !== null) expMs = Math.min(expMs, req.notAfter)
    const iat = Math.floor(nowMs / 1000)
    const exp = Math.floor(expMs / 1000)
    if (exp <= iat) throw new ProviderError('rejected', 'the task ends before a token could be valid', false)
    const key = await this.keys.signingKey()
    const { SignJWT } = await import('jose')
    const claims: Record<string, unknown> = { tool: req.tool }
    if (req.scopes.length > 0) claims.scope = req.scopes.join(' ')
    if (req.taskId !== null) claims.task_id = req.taskId
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(this.config.issuer)
      .setSubject(workloadSubject(req.agent))
      .setAudience(req.audience ?? req.tool)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.privateKey)
    return { token, expiresAt: exp * 1000 }
  }

  async revoke(): Promise<RevokeResult> {
    return 'not_supported'
  }

  async close(): Promise<void> {}
}

export function workloadSubject(agent: PolicyInput['agent']): string {
  if (agent.spiffe_id) return agent.spiffe_id
  if (agent.namespace && agent.service_account) return `system:serviceaccount:${agent.namespace}:${agent.service_account}`
  return 'toolgate:unknown-workload'
}
