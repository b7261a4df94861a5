// The rate limit stage of the pipeline: after the allowlist and the policy allowed a call, it
// takes a token from every local limit that applies (ratelimit/local.ts). Over a limit the call
// is refused: HTTP 429 with Retry-After and RateLimit headers, or for an MCP message a JSON-RPC
// error -32029 with the retry time (pipeline/mcp.ts). Before the policy runs, the remaining
// budget of each applicable limit is put into input.rate_limits so the policy can act on it.
// Refused calls take no token; report mode records would_deny and lets the call pass.

import type { Counter, Registry } from 'prom-client'
import { counter } from '../record/metric-table.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { RateLimits } from '../config/schema.gen.ts'
import { compileLimits } from './limits.ts'
import { LocalRateLimiter, type LimitView } from './local.ts'
import { GlobalRateLimiter } from './global.ts'
import { allow, deny } from '../decide/deny.ts'

export const DEFAULT_MAX_BUCKETS = 10_000

/** What a refused call carries to the response writers. */
export interface RateLimitRefusal {
  limit: string
  retryAfterS: number
  headers: Record<string, string>
}

export class RateLimitStage {
  private readonly local: LocalRateLimiter
  private global: GlobalRateLimiter | null = null
  private globalService: string | null = null
  private readonly counter: Counter<'limit' | 'result'>

  constructor(config: RateLimits | undefined, registry: Registry) {
    this.local = new LocalRateLimiter({ limits: compileLimits(config?.limits), maxBuckets: config?.max_buckets ?? DEFAULT_MAX_BUCKETS })
    this.configureGlobal(config)
    this.counter = counter(registry, 'toolgate_rate_limit_total')
  }

  update(config: RateLimits | undefined): void {
    this.local.update(compileLimits(config?.limits), config?.max_buckets ?? DEFAULT_MAX_BUCKETS)
    this.configureGlobal(config)
  }

  /** The service client follows the config; a changed service section gets a new client. */
  private configureGlobal(config: RateLimits | undefined): void {
    const limits = compileLimits(config?.limits)
    const wanted = config?.service && limits.some((l) => l.scope === 'global') ? JSON.stringify(config.service) : null
    if (wanted !== this.globalService) {
      this.global?.close()
      this.global = wanted !== null ? new GlobalRateLimiter(config!.service!, limits) : null
      this.globalService = wanted
    } else {
      this.global?.update(limits)
    }
  }

  /** Global limits (ratelimit/global.ts) for an allowed call: one round trip to the service, bounded by its deadline. */
  async applyGlobal(call: ToolCall, agent: PolicyInput['agent'], decision: Decision): Promise<Decision> {
    if (!decision.allow || this.global === null) return decision
    const v = await this.global.check(call, agent)
    if (v.ok) {
      if (v.unavailable === undefined) return decision
      this.counter.inc({ limit: 'service', result: 'unavailable_allowed' })
      return allow(decision, [...decision.reasons, `${v.unavailable}; allowed (failure_mode: allow)`], { error: v.detail ?? null })
    }
    if (v.kind === 'unavailable') {
      this.counter.inc({ limit: 'service', result: 'unavailable_denied' })
      return deny(decision, 'rate_limit', [v.reason], { status: 503, error: v.detail })
    }
    this.counter.inc({ limit: v.limit, result: 'limited' })
    return deny(decision, 'rate_limit', [v.reason], { status: 429, rateLimit: { limit: v.limit, retryAfterS: v.retryAfterS, headers: v.headers } })
  }

  close(): void {
    this.global?.close()
  }

  /** input.rate_limits for the policy. */
  view(call: ToolCall, agent: PolicyInput['agent']): Record<string, LimitView> {
    return this.local.view(call, agent)
  }

  /** The decision after the limits: unchanged, or refused with stage rate_limit (429). */
  apply(call: ToolCall, agent: PolicyInput['agent'], decision: Decision): Decision {
    if (!decision.allow) return decision
    const v = this.local.take(call, agent)
    if (v.ok) return decision
    this.counter.inc({ limit: v.limit, result: 'limited' })
    return deny(decision, 'rate_limit', [v.reason], { status: 429, rateLimit: { limit: v.limit, retryAfterS: v.retryAfterS, headers: v.headers } })
  }
}
