// The trust settings of one config, built once per config: task issuers (with their keys),
// approver issuers, the TokenReview client. Built at start (a missing key file stops start-up
// with its path) and rebuilt on reload (a reload that cannot build them keeps the previous ones).

import type { ResolvedConfig } from '../config/resolved.ts'
import { trustedIssuer } from './verify.ts'
import type { GrantIssuer } from './grants.ts'
import type { ApproverIssuer } from './approvers.ts'
import { TokenReviewer } from './tokenreview.ts'

export interface TrustSettings {
  issuers: GrantIssuer[]
  /** tasks.audience (null: no grant can verify). */
  audience: string | null
  agentDeclared: boolean
  approvers: ApproverIssuer[]
  approvalAudience: string | null
  kubernetes: TokenReviewer | null
}

export function buildTrustSettings(config: ResolvedConfig): TrustSettings {
  const dir = config.source.dir
  const issuers = (config.tasks.issuers ?? []).map((i) => ({ ...trustedIssuer(i, dir), maxTasks: i.max_tasks ?? 100, maxTtlS: i.max_ttl_s ?? 86_400 }))
  const approvers = (config.approvals.approvers ?? []).map((a) => ({ ...trustedIssuer(a, dir), claims: a.claims ?? {} }))
  const k = config.approvals.kubernetes
  return {
    issuers,
    audience: config.tasks.audience ?? null,
    agentDeclared: config.tasks.agent_declared ?? false,
    approvers,
    approvalAudience: config.approvals.audience ?? null,
    kubernetes: k ? new TokenReviewer(k, dir) : null,
  }
}
