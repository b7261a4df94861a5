// The decision for one classified call: allowlist first (no match or a deny rule → deny), then
// the task (unknown or ended → deny), then the OPA policy, which decides every allowlisted call.
// Anything that cannot be decided (no bundle, evaluation error, malformed result) denies: fail
// closed, with the reason recorded. Report mode lets a denied call pass but records what
// enforcement would have done.

import type { Decision, DecisionStage } from './decision.ts'
import type { PolicyInput, PolicyResult } from './policy-input.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import { buildPolicyInput } from './policy-input-builder.ts'

export type PolicyOutcome =
  | { ok: true; result: PolicyResult; revision: string }
  | { ok: false; error: string; revision: string | null }

/** What the decide stage needs from the policy engine. */
export interface PolicyEvaluator {
  evaluate(input: PolicyInput): PolicyOutcome
}

/** Allowlist outcome for the call, from classify/. */
export type AllowlistVerdict =
  | { kind: 'no_tool' }
  | { kind: 'denied'; reason: string }
  | { kind: 'no_route'; nearMisses: string[] }
  | { kind: 'allowed' }

export interface DecideContext {
  mode: 'enforce' | 'report'
  policy: PolicyEvaluator | null
  agent: PolicyInput['agent']
  /** The task named by the call (undefined when the header named an unknown task). */
  task: { known: boolean; view: PolicyInput['task'] }
  tasksRequired: boolean
  now: Date
  /** input.rate_limits (ratelimit/stage.ts); none when absent. */
  rateLimits?: PolicyInput['rate_limits']
}

const MAX_REASONS = 16
const MAX_REASON_LENGTH = 512

function validResult(value: unknown): value is PolicyResult {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  if (typeof r['allow'] !== 'boolean') return false
  if (!Array.isArray(r['reasons']) || !r['reasons'].every((x) => typeof x === 'string')) return false
  return true
}

function decision(call: ToolCall, ctx: DecideContext, fields: Partial<Decision> & { allow: boolean }, started: bigint): Decision {
  const stage = fields.stage ?? null
  // Parse and destination refusals protect toolgate and the network; report mode never relaxes them.
  const enforcedAlways = stage === 'parse' || stage === 'destination'
  const pass = fields.allow || (ctx.mode === 'report' && !enforcedAlways)
  return {
    id: call.id,
    allow: fields.allow,
    pass,
    mode: ctx.mode,
    stage: fields.allow ? null : stage,
    reasons: (fields.reasons ?? []).slice(0, MAX_REASONS).map((r) => r.slice(0, MAX_REASON_LENGTH)),
    status: fields.status ?? (fields.allow ? 200 : 403),
    policyRevision: fields.policyRevision ?? null,
    approval: fields.approval ?? null,
    credential: fields.credential ?? null,
    error: fields.error ?? null,
    decideSeconds: Number(process.hrtime.bigint() - started) / 1e9,
  }
}

function deny(call: ToolCall, ctx: DecideContext, stage: DecisionStage, reasons: string[], started: bigint, extra: Partial<Decision> = {}): Decision {
  return decision(call, ctx, { ...extra, allow: false, stage, reasons }, started)
}

export function decide(call: ToolCall, verdict: AllowlistVerdict, ctx: DecideContext, started = process.hrtime.bigint()): Decision {
  const where = `${call.target.scheme}://${call.target.host}:${call.target.port}`
  switch (verdict.kind) {
    case 'no_tool':
      return deny(call, ctx, 'allowlist', [`no tool in the allowlist matches ${where}`], started)
    case 'denied':
      return deny(call, ctx, 'allowlist', [verdict.reason], started)
    case 'no_route':
      return deny(call, ctx, 'allowlist', [`no route of tool ${call.tool} allows ${call.method} ${call.target.path}`, ...verdict.nearMisses], started)
    case 'allowed':
      break
  }

  if (call.taskRefusal !== undefined) return deny(call, ctx, 'task', [call.taskRefusal], started)
  if (call.taskId !== null && !ctx.task.known) return deny(call, ctx, 'task', [`task ${call.taskId} is unknown or has ended`], started)
  if (call.taskId === null && ctx.tasksRequired) return deny(call, ctx, 'task', ['a task is required (Txn-Token or toolgate-task header)'], started)

  if (ctx.policy === null) return deny(call, ctx, 'policy', ['no policy bundle is loaded (fail closed)'], started)
  let outcome: PolicyOutcome
  try {
    outcome = ctx.policy.evaluate(buildPolicyInput(call, ctx.agent, ctx.task.view, ctx.now, ctx.rateLimits))
  } catch (err) {
    outcome = { ok: false, error: (err as Error).message ?? String(err), revision: null }
  }
  if (!outcome.ok) {
    return deny(call, ctx, 'policy', ['policy could not be evaluated (fail closed)'], started, { error: outcome.error, policyRevision: outcome.revision })
  }
  const result = outcome.result
  if (!validResult(result)) {
    return deny(call, ctx, 'policy', ['policy returned a malformed result (fail closed)'], started, { error: `malformed result: ${JSON.stringify(result).slice(0, 200)}`, policyRevision: outcome.revision })
  }
  if (!result.allow) {
    const reasons = result.reasons.length > 0 ? result.reasons : ['denied by policy']
    return deny(call, ctx, 'policy', reasons, started, { policyRevision: outcome.revision })
  }
  return decision(call, ctx, {
    allow: true,
    reasons: result.reasons,
    policyRevision: outcome.revision,
    approval: result.approval ? { reason: String(result.approval.reason ?? 'approval required') } : null,
    credential: result.credential ?? null,
  }, started)
}
