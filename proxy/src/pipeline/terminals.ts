// Stage 7 for requests: where a decided, passing call goes. forward sends the canonical request
// upstream and streams the answer back; upgrade hands a WebSocket handshake to the upstream and
// splices the sockets; the dry run (`toolgate decide`) sends nothing. Tunnels have their own
// terminal (tunnel.ts).

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex, Readable } from 'node:stream'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { deny } from '../decide/deny.ts'
import { forward, type ForwardInput, type ForwardResult, type UpstreamRequest } from '../forward/forward.ts'
import { forwardUpgrade } from '../forward/upgrade.ts'
import type { ReflectionGuard } from '../forward/reflection-guard.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { ToolUpstream } from '../forward/pools.ts'
import { destinationRules } from '../decide/destination.ts'
import { upstreamTimeouts } from '../forward/timeouts.ts'

/**
 * The upstream settings of the call's tool. A call no tool matched reaches a terminal only when
 * report mode let it through: it gets the default destination rules (no private, loopback,
 * link-local or metadata address), never another tool's pool or CA.
 */
export function upstreamOf(rt: Runtime, call: ToolCall): ToolUpstream {
  return rt.upstreams.get(call.tool ?? '') ?? { name: '\u0000no tool', rules: destinationRules('', []), caFile: null }
}

export async function forwardTerminal(rt: Runtime, call: ToolCall, request: UpstreamRequest, body: Readable | Buffer | null, res: ServerResponse, signal: AbortSignal, responseTransform?: ForwardInput['responseTransform'], reflection?: ReflectionGuard | null, streamFailure?: ForwardInput['streamFailure']): Promise<ForwardResult> {
  return forward({
    pools: rt.pools,
    tool: upstreamOf(rt, call),
    request,
    body,
    maxRequestBodyBytes: rt.config.limits.max_request_body_bytes,
    maxResponseBodyBytes: rt.config.limits.max_response_body_bytes,
    signal,
    timeouts: upstreamTimeouts(rt.config.timeouts, rt.allowlist.byName(call.tool ?? '')?.config.timeouts),
    ...(responseTransform ? { responseTransform } : {}),
    ...(reflection ? { reflection } : {}),
    ...(streamFailure ? { streamFailure } : {}),
  }, res)
}

/** Only GET WebSocket upgrades are forwarded (the route allowed the upgrade in the route checks). */
export async function upgradeTerminal(rt: Runtime, call: ToolCall, decision: Decision, request: UpstreamRequest, req: IncomingMessage, client: { socket: Duplex; head: Buffer }): Promise<ForwardResult | { refused: Decision }> {
  const protocol = String(req.headers['upgrade'] ?? '').toLowerCase()
  if (protocol !== 'websocket' || req.method !== 'GET') return { refused: deny(decision, 'parse', ['only GET WebSocket upgrades are supported'], { status: 400 }) }
  const tool = upstreamOf(rt, call)
  const started = process.hrtime.bigint()
  const up = await forwardUpgrade({ tool, request, protocol, client: { req, socket: client.socket, head: client.head }, connectTimeoutMs: rt.pools.connectTimeoutMs, idleTimeoutMs: rt.config.timeouts.idle_ms, secureContext: rt.pools.secureContextFor(tool) })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return up.ok
    ? { status: 101, upstreamStatus: 101, upstreamSeconds: seconds, failure: null }
    : { status: up.status, upstreamStatus: null, upstreamSeconds: null, failure: up.failure }
}

/** Nothing is sent: status 0 says so in the record. */
export function dryRunTerminal(): ForwardResult {
  return { status: 0, upstreamStatus: null, upstreamSeconds: null, failure: null }
}
