// Stage 2, decide: the allowlist verdict, the task and the OPA policy (decide/decide.ts) for one
// classified call, read against the call's own config snapshot. Shared by every listener, by
// each MCP message and by the dry run of `toolgate decide`.

import type { CompiledTool, RouteMatch } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import { decide, type AllowlistVerdict, type PolicyEvaluator } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { TaskService } from './services.ts'
import type { RateLimitStage } from '../ratelimit/stage.ts'

export function allowlistVerdict(tool: CompiledTool | null, match: RouteMatch | null): AllowlistVerdict {
  if (tool === null) return { kind: 'no_tool' }
  if (match === null) return { kind: 'allowed' }
  switch (match.kind) {
    case 'route': return { kind: 'allowed' }
    case 'denied': return { kind: 'denied', reason: match.reason }
    case 'none': return { kind: 'no_route', nearMisses: match.nearMisses }
  }
}

/** The mode that applies to a call: the tool's own, else the config's. */
export function modeOf(tool: CompiledTool | null, rt: Runtime): 'enforce' | 'report' {
  return tool?.config.mode ?? rt.config.mode
}

/**
 * `opts.rateLimits: false` for a tunnel opened for inspection: it takes no rate-limit token, each
 * request inside it does (ratelimit/stage.ts).
 */
export function decideStage(
  deps: { policy: () => PolicyEvaluator | null; tasks: TaskService | null; rateLimits?: RateLimitStage | null },
  rt: Runtime,
  call: ToolCall,
  tool: CompiledTool | null,
  match: RouteMatch | null,
  verdict: AllowlistVerdict = allowlistVerdict(tool, match),
  opts: { rateLimits?: boolean; earlierCalls?: number } = {},
): Decision {
  const started = process.hrtime.bigint()
  const { tasks } = deps
  const task = call.taskId !== null && tasks ? tasks.get(call.taskId) : undefined
  // earlierCalls: tool calls of the same request decided before this one (an MCP batch), which
  // the policy counts as calls so far.
  const view = task && tasks ? tasks.policyView(task) : null
  if (view) view.calls += opts.earlierCalls ?? 0
  const limits = verdict.kind === 'allowed' && opts.rateLimits !== false ? deps.rateLimits ?? null : null
  const decision = decide(call, verdict, {
    mode: modeOf(tool, rt),
    policy: deps.policy(),
    agent: rt.agent,
    task: { known: task !== undefined, view },
    tasksRequired: rt.config.tasks.required,
    now: new Date(),
    evalBudgetMs: rt.config.timeouts.policy_eval_ms,
    ...(limits ? { rateLimits: limits.view(call, rt.agent) } : {}),
  }, started)
  // An allowed call takes its tokens here; over a limit it is refused (429 / JSON-RPC -32029).
  return limits ? limits.apply(call, rt.agent, decision) : decision
}
