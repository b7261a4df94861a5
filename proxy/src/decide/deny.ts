// The only place a Decision is built. Every stage that refuses calls deny(); every stage that
// lets a call through calls allow(). Both apply the one report-mode rule, so no two stages can
// disagree on `pass`:
//
//   report mode lets through what the *allowlist, task, policy or a rate limit* would deny (that
//   is what it is for: rolling out allowlists and limits), and nothing else. Refusals that protect toolgate, the network or
//   a person's answer — parse, route (what toolgate cannot do safely: a request to a passthrough
//   tool, an unseen tunnel to an inspected tool, an upgrade a route does not allow), destination,
//   approval and credential — are enforced in every mode.

import type { CredentialNarrowing, Decision, DecisionStage } from './decision.ts'

/** The stages whose refusals report mode relaxes. */
export const REPORT_RELAXES: ReadonlySet<DecisionStage> = new Set<DecisionStage>(['allowlist', 'task', 'policy', 'rate_limit'])

const MAX_REASONS = 16
const MAX_REASON_LENGTH = 512

/** What a decision starts from: the call's id and the mode that applies to it. */
export interface DecisionBase {
  id: string
  mode: 'enforce' | 'report'
}

export interface DecisionExtras {
  status?: number
  policyRevision?: string | null
  approval?: { reason: string } | null
  credential?: CredentialNarrowing | null
  error?: string | null
  /** The rate limit that refused the call (stage rate_limit). */
  rateLimit?: Decision['rateLimit']
  /** Seconds spent deciding; omitted: kept from `from` when it is a Decision, else 0. */
  decideSeconds?: number
}

function bounded(reasons: string[]): string[] {
  return reasons.slice(0, MAX_REASONS).map((r) => r.slice(0, MAX_REASON_LENGTH))
}

function carried(from: DecisionBase | Decision): Partial<Decision> {
  return 'allow' in from ? from : {}
}

/** A refusal by `stage`. Fields not given are kept from `from` when it is an earlier Decision. */
export function deny(from: DecisionBase | Decision, stage: DecisionStage, reasons: string[], extras: DecisionExtras = {}): Decision {
  const prev = carried(from)
  return {
    id: from.id,
    allow: false,
    pass: from.mode === 'report' && REPORT_RELAXES.has(stage),
    mode: from.mode,
    stage,
    reasons: bounded(reasons),
    status: extras.status ?? 403,
    policyRevision: extras.policyRevision !== undefined ? extras.policyRevision : prev.policyRevision ?? null,
    approval: extras.approval !== undefined ? extras.approval : prev.approval ?? null,
    credential: extras.credential !== undefined ? extras.credential : prev.credential ?? null,
    error: extras.error !== undefined ? extras.error : prev.error ?? null,
    decideSeconds: extras.decideSeconds ?? prev.decideSeconds ?? 0,
    ...(extras.rateLimit !== undefined ? { rateLimit: extras.rateLimit } : {}),
  }
}

/** A call let through (by the policy, or a tunnel opened so its requests can be decided one by one). */
export function allow(from: DecisionBase | Decision, reasons: string[], extras: DecisionExtras = {}): Decision {
  const prev = carried(from)
  return {
    id: from.id,
    allow: true,
    pass: true,
    mode: from.mode,
    stage: null,
    reasons: bounded(reasons),
    status: extras.status ?? 200,
    policyRevision: extras.policyRevision !== undefined ? extras.policyRevision : prev.policyRevision ?? null,
    approval: extras.approval !== undefined ? extras.approval : prev.approval ?? null,
    credential: extras.credential !== undefined ? extras.credential : prev.credential ?? null,
    error: extras.error !== undefined ? extras.error : prev.error ?? null,
    decideSeconds: extras.decideSeconds ?? prev.decideSeconds ?? 0,
  }
}

/**
 * The decision an MCP batch is forwarded under once every message passed: allowed only when
 * every message is, asking for approval when any message does. The first refusal (a report-mode
 * pass) speaks for the batch, else the first message.
 */
export function batchDecision(decisions: Decision[]): Decision {
  const refused = decisions.find((d) => !d.allow)
  if (refused !== undefined) return refused
  const first = decisions[0]!
  const approval = decisions.find((d) => d.approval !== null)?.approval ?? null
  return allow(first, first.reasons, { approval })
}
