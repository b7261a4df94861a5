// How `toolgate decide` treats rate limits: it simulates the local ones and says so. One decide
// run starts with full buckets (as a freshly started sidecar would) and every input line that is
// allowed takes its tokens, so a run of lines behaves like that many consecutive calls: the line
// that would exceed a limit is shown as refused by stage rate_limit, exactly as the proxy would
// refuse it. Global limits (a shared rate limit service) are not contacted: decide names the ones
// that apply and says they were not simulated, rather than guessing another pod's usage.

import { Registry } from 'prom-client'
import type { ToolCall } from '../classify/toolcall.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { RateLimits } from '../config/schema.gen.ts'
import { RateLimitStage } from '../ratelimit/stage.ts'
import { compileLimits, limitApplies, type CompiledLimit } from '../ratelimit/limits.ts'
import type { LimitView } from '../ratelimit/local.ts'

/** What decide reports about one decided call's limits. */
export interface SimulatedLimits {
  /** Local limits that apply, as they stood before this call (the call takes one token from each if allowed). */
  local: Record<string, LimitView>
  /** Global limits that apply; not simulated. */
  globalNotSimulated: string[]
}

/** Most calls remembered per run (an MCP batch decides several calls per line). */
const MAX_OBSERVED = 1024

/**
 * The rate limit stage a decide run hands the chain: the config's local limits with fresh
 * buckets, no rate limit service, and a note of what applied to each call (by call id).
 */
export class SimulatedRateLimits extends RateLimitStage {
  private readonly globals: CompiledLimit[]
  private readonly observed = new Map<string, SimulatedLimits>()

  constructor(config: RateLimits | undefined) {
    // No `service`: the stage then creates no global limiter (nothing leaves this process).
    super(config ? { ...config, service: undefined } : undefined, new Registry())
    this.globals = compileLimits(config?.limits).filter((l) => l.scope === 'global')
  }

  override view(call: ToolCall, agent: PolicyInput['agent']): Record<string, LimitView> {
    const local = super.view(call, agent)
    const globalNotSimulated = this.globals.filter((l) => limitApplies(l, call)).map((l) => l.name)
    if (this.observed.size >= MAX_OBSERVED) this.observed.delete(this.observed.keys().next().value!)
    this.observed.set(call.id, { local, globalNotSimulated })
    return local
  }

  /** What applied to the call with this id (null: no limit was consulted, e.g. the call was denied earlier). */
  limitsOf(callId: string): SimulatedLimits | null {
    return this.observed.get(callId) ?? null
  }

  /** Text lines for the human output. */
  static describe(s: SimulatedLimits | null, allowed: boolean): string[] {
    if (s === null) return []
    const out = Object.entries(s.local).map(([name, v]) =>
      `rate limit: ${name} (local, ${v.requests} per ${v.period_s}s): ${v.remaining} of ${v.burst} left before this call${allowed ? '; this call takes 1' : ''}`)
    for (const name of s.globalNotSimulated) out.push(`rate limit: ${name} (global): not simulated (decide does not contact the rate limit service)`)
    return out
  }
}
