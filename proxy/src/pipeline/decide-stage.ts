// Stage 2, decide: the allowlist verdict, the task and the OPA policy (decide/decide.ts) for one
// classified call, read against the call's own config snapshot. Shared by every listener, by
// each MCP message and by the dry run of `toolgate decide`.

import type { CompiledTool, RouteMatch } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import { decide, type AllowlistVerdict, type PolicyEvaluator } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { TaskService } from './services.ts'

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

export function decideStage(
  deps: { policy: () => PolicyEvaluator | null; tasks: TaskService | null },
  rt: Runtime,
  call: ToolCall,
  tool: CompiledTool | null,
  match: RouteMatch | null,
  verdict: AllowlistVerdict = allowlistVerdict(tool, match),
): Decision {
  const started = process.hrtime.bigint()
  const { tasks } = deps
  const task = call.taskId !== null && tasks ? tasks.get(call.taskId) : undefined
  return decide(call, verdict, {
    mode: modeOf(tool, rt),
    policy: deps.policy(),
    agent: rt.agent,
    task: { known: task !== undefined, view: task && tasks ? tasks.policyView(task) : null },
    tasksRequired: rt.config.tasks.required,
    now: new Date(),
    evalBudgetMs: rt.config.timeouts.policy_eval_ms,
  }, started)
}
