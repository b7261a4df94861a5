// The decision for one classified call: allowlist first (no match or a deny rule → deny), then
// the task (unknown or ended → deny), then the OPA policy, which decides every allowlisted call.
// Anything that cannot be decided (no bundle, evaluation error, malformed result) denies: fail
// closed, with the reason recorded. Report mode lets a denied call pass but records what
// enforcement would have done.

import type { Decision, DecisionStage } from './decision.ts'
import type { PolicyInput, PolicyResult } from './policy-input.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import { buildPolicyInput } from './policy-input-builder.ts'
import { allow, deny, type DecisionExtras } from './deny.ts'

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
  /**
   * timeouts.policy_eval_ms. WASM evaluation is synchronous and cannot be interrupted, so an
   * evaluation that took longer is not used: it denies (fail closed), and the record says why.
   */
  evalBudgetMs: number
  /** input.rate_limits (ratelimit/stage.ts); none when absent. */
  rateLimits?: PolicyInput['rate_limits']
}

function validResult(value: unknown): value is PolicyResult {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  if (typeof r['allow'] !== 'boolean') return false
  if (!Array.isArray(r['reasons']) || !r['reasons'].every((x) => typeof x === 'string')) return false
  return true
}

function refuse(call: ToolCall, ctx: DecideContext, stage: DecisionStage, reasons: string[], started: bigint, extra: DecisionExtras = {}): Decision {
  return deny({ id: call.id, mode: ctx.mode }, stage, reasons, { ...extra, decideSeconds: secondsSince(started) })
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9
}

export function decide(call: ToolCall, verdict: AllowlistVerdict, ctx: DecideContext, started = process.hrtime.bigint()): Decision {
  const where = `${call.target.scheme}://${call.target.host}:${call.target.port}`
  switch (verdict.kind) {
    case 'no_tool':
      return refuse(call, ctx, 'allowlist', [`no tool in the allowlist matches ${where}`], started)
    case 'denied':
      return refuse(call, ctx, 'allowlist', [verdict.reason], started)
    case 'no_route':
      return refuse(call, ctx, 'allowlist', [`no route of tool ${call.tool} allows ${call.method} ${call.target.path}`, ...verdict.nearMisses], started)
    case 'allowed':
      break
  }

  if (call.taskRefusal !== undefined) return refuse(call, ctx, 'task', [call.taskRefusal], started)
  if (call.taskId !== null && !ctx.task.known) return refuse(call, ctx, 'task', [`task ${call.taskId} is unknown or has ended`], started)
  if (call.taskId === null && ctx.tasksRequired) return refuse(call, ctx, 'task', ['a task is required (Txn-Token or toolgate-task header)'], started)

  if (ctx.policy === null) return refuse(call, ctx, 'policy', ['no policy bundle is loaded (fail closed)'], started)
  let outcome: PolicyOutcome
  const input = buildPolicyInput(call, ctx.agent, ctx.task.view, ctx.now, ctx.rateLimits)
  const evalStarted = process.hrtime.bigint()
  try {
    outcome = ctx.policy.evaluate(input)
  } catch (err) {
    outcome = { ok: false, error: (err as Error).message ?? String(err), revision: null }
  }
  const evalMs = secondsSince(evalStarted) * 1000
  if (evalMs > ctx.evalBudgetMs) {
    return refuse(call, ctx, 'policy', [`policy evaluation took ${evalMs.toFixed(1)} ms, over timeouts.policy_eval_ms (${ctx.evalBudgetMs}) (fail closed)`], started, { policyRevision: outcome.revision })
  }
  if (!outcome.ok) {
    return refuse(call, ctx, 'policy', ['policy could not be evaluated (fail closed)'], started, { error: outcome.error, policyRevision: outcome.revision })
  }
  const result = outcome.result
  if (!validResult(result)) {
    return refuse(call, ctx, 'policy', ['policy returned a malformed result (fail closed)'], started, { error: `malformed result: ${JSON.stringify(result).slice(0, 200)}`, policyRevision: outcome.revision })
  }
  if (!result.allow) {
    const reasons = result.reasons.length > 0 ? result.reasons : ['denied by policy']
    return refuse(call, ctx, 'policy', reasons, started, { policyRevision: outcome.revision })
  }
  return allow({ id: call.id, mode: ctx.mode }, result.reasons, {
    policyRevision: outcome.revision,
    approval: result.approval ? { reason: String(result.approval.reason ?? 'approval required') } : null,
    credential: result.credential ?? null,
    decideSeconds: secondsSince(started),
  })
}
