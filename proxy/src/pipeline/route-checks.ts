// Stage 3, route checks: refusals that depend on the tool and route rather than on the policy,
// applied to an allowed call on every listener and in the dry run alike (`toolgate decide`
// skipped them once and printed ALLOW for calls the proxy refused). Stage `route`: enforced in
// every mode (decide/deny.ts), because these are things toolgate cannot do safely.

import type { CompiledTool } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { allow, deny } from '../decide/deny.ts'

/** A request (not a tunnel) to a tool: passthrough tools and upgrades the route does not allow are refused. */
export function requestRouteChecks(call: ToolCall, tool: CompiledTool | null, decision: Decision): Decision {
  if (!decision.pass) return decision
  if (tool?.config.passthrough) {
    // Passthrough means an uninspected tunnel: toolgate never makes requests to such a tool itself.
    return deny(decision, 'route', [`tool ${tool.name} is passthrough: reachable through CONNECT only`])
  }
  if (call.upgrade && !call.route?.upgrade) return deny(decision, 'route', ['protocol upgrade is not allowed on this route'])
  return decision
}

/**
 * A tunnel (CONNECT, transparent TLS). An inspected tool's tunnel is only opened here: its
 * requests are decided one by one inside it, so the tunnel needs the allowlist match alone. A
 * tool that must be inspected is never tunnelled unseen, whatever the mode: without an
 * interceptor its tunnel is refused. Passthrough tunnels keep their full decision.
 */
export function tunnelRouteChecks(tool: CompiledTool | null, decision: Decision, canIntercept: boolean): { decision: Decision; inspect: boolean } {
  const inspected = tool !== null && !tool.config.passthrough
  if (!inspected) return { decision, inspect: false }
  if (canIntercept) return { decision: allow(decision, ['tunnel opened for inspection'], { approval: null, credential: null }), inspect: true }
  return { decision: deny(decision, 'route', [`tool ${tool.config.name} must be inspected, but TLS interception is not available; a plain tunnel is refused`]), inspect: false }
}
