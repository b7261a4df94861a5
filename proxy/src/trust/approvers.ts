// Who may approve a held call. Two ways in, each naming the approver (`sub`) for the record:
//   - Authorization: Bearer <token>: a JWT from a configured approver issuer (approvals.approvers:
//     signature, aud = approvals.audience, required claims such as a group), or a Kubernetes
//     ServiceAccount token checked with a TokenReview (approvals.kubernetes);
//   - a signed approval decision: a JWT (typ toolgate-approval+jwt) from an approver issuer over
//     {approval_id, decision, call_digest, exp}, which any channel may deliver (the webhook
//     notification gives an external approval service the id and digest to sign).
// A task grant (typ txntoken+jwt) is never an approver credential, whatever its issuer.

import type { JWTPayload } from 'jose'
import { loadJose } from './jose-lazy.ts'
import { quote, verifyJwt, type TrustedIssuer } from './verify.ts'
import { TXN_TOKEN_TYP } from './grants.ts'
import type { TokenReviewer } from './tokenreview.ts'

export const APPROVAL_TYP = 'toolgate-approval+jwt'

export interface ApproverIssuer extends TrustedIssuer {
  /** claim → value the token must carry (equal, or contained in an array claim). */
  claims: Record<string, string>
}

export interface Approver {
  /** The approver's identity (JWT sub, or the ServiceAccount username). */
  subject: string
  /** Config name of the approver issuer, or "kubernetes". */
  issuer: string
  via: 'bearer' | 'signed' | 'kubernetes'
}

export type Authenticated = { ok: true; approver: Approver } | { ok: false; status: 401 | 403; reason: string }

export interface SignedDecision {
  approver: Approver
  approvalId: string
  decision: 'approve' | 'deny'
  callDigest: string
  reason: string | null
}

export interface ApproversOptions {
  approvers: () => readonly ApproverIssuer[]
  audience: () => string | null
  kubernetes: () => TokenReviewer | null
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/

export class Approvers {
  private readonly o: ApproversOptions

  constructor(o: ApproversOptions) {
    this.o = o
  }

  /** Any approver configured at all (otherwise nothing can ever be approved: fail closed). */
  configured(): boolean {
    return (this.o.approvers().length > 0 && this.o.audience() !== null) || this.o.kubernetes() !== null
  }

  /** Authenticates the bearer credential of a control request as an approver. */
  async authenticate(authorization: string | undefined): Promise<Authenticated> {
    if (authorization === undefined || authorization === '') return { ok: false, status: 401, reason: 'approvals need an authenticated approver (Authorization: Bearer <approver token>)' }
    const m = BEARER.exec(authorization)
    if (!m) return { ok: false, status: 401, reason: 'Authorization must be "Bearer <token>"' }
    const token = m[1]!
    const approvers = this.o.approvers()
    const audience = this.o.audience()
    const kube = this.o.kubernetes()
    const iss = unverifiedIssuer(token, (await loadJose()).decodeJwt)
    if (approvers.some((a) => a.issuer === iss) || kube === null) {
      if (approvers.length === 0 || audience === null) return { ok: false, status: 401, reason: 'no approvers are configured (approvals.approvers, approvals.kubernetes)' }
      const v = await verifyJwt(token, approvers, { what: 'approver token', audience, forbiddenTyp: [TXN_TOKEN_TYP, APPROVAL_TYP], requiredClaims: ['sub'] })
      if (!v.ok) return { ok: false, status: 401, reason: v.reason }
      const issuer = v.issuer as ApproverIssuer
      const missing = missingClaim(v.payload, issuer.claims)
      if (missing) return { ok: false, status: 403, reason: `approver token refused: ${missing}` }
      return { ok: true, approver: { subject: v.payload.sub!, issuer: issuer.name, via: 'bearer' } }
    }
    const r = await kube.review(token)
    if (!r.ok) return { ok: false, status: 401, reason: `approver token refused: ${r.reason}` }
    return { ok: true, approver: { subject: r.username, issuer: 'kubernetes', via: 'kubernetes' } }
  }

  /** Verifies a signed approval decision (its approval id and digest are checked by the gate). */
  async verifyDecision(token: string): Promise<{ ok: true; value: SignedDecision } | { ok: false; reason: string }> {
    const approvers = this.o.approvers()
    const audience = this.o.audience()
    if (approvers.length === 0 || audience === null) return { ok: false, reason: 'signed approval decision refused: no approver issuers are configured' }
    const v = await verifyJwt(token, approvers, { what: 'signed approval decision', audience, typ: APPROVAL_TYP, requiredClaims: ['sub', 'approval_id', 'decision', 'call_digest'] })
    if (!v.ok) return v
    const issuer = v.issuer as ApproverIssuer
    const missing = missingClaim(v.payload, issuer.claims)
    if (missing) return { ok: false, reason: `signed approval decision refused: ${missing}` }
    const p = v.payload
    if (typeof p['approval_id'] !== 'string' || typeof p['call_digest'] !== 'string') return { ok: false, reason: 'signed approval decision refused: approval_id and call_digest must be strings' }
    if (p['decision'] !== 'approve' && p['decision'] !== 'deny') return { ok: false, reason: 'signed approval decision refused: decision must be "approve" or "deny"' }
    const reason = typeof p['reason'] === 'string' ? p['reason'].slice(0, 500) : null
    return { ok: true, value: { approver: { subject: p.sub!, issuer: issuer.name, via: 'signed' }, approvalId: p['approval_id'], decision: p['decision'], callDigest: p['call_digest'], reason } }
  }
}

function unverifiedIssuer(token: string, decodeJwt: typeof import('jose').decodeJwt): string | null {
  try {
    const iss = decodeJwt(token).iss
    return typeof iss === 'string' ? iss : null
  } catch {
    return null
  }
}

function missingClaim(p: JWTPayload, required: Record<string, string>): string | null {
  for (const [claim, value] of Object.entries(required)) {
    const got = p[claim]
    const ok = Array.isArray(got) ? got.includes(value) : got === value
    if (!ok) return `claim ${claim} must be or contain ${quote(value)}`
  }
  return null
}
