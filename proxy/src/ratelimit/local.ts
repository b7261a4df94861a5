// Local rate limits: token buckets in this sidecar's memory. A call takes one token from the
// bucket of every local limit that applies to it, all or nothing: if any bucket is empty nothing
// is taken and the call is refused with the time until that bucket has a token again. Buckets
// live in a bounded LRU (rate_limits.max_buckets); a bucket is dropped once it would be full
// again anyway (its TTL), so dropping it loses nothing.

import { LRUCache } from 'lru-cache'
import { performance } from 'node:perf_hooks'
import type { ToolCall } from '../classify/toolcall.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { fullBucket, refill, secondsUntil, secondsUntilFull, type BucketState } from './bucket.ts'
import { bucketKey, limitApplies, type CompiledLimit } from './limits.ts'
import { rateLimitHeaders } from './headers.ts'

/** What the policy sees of one applicable limit, before the call takes its token. */
export interface LimitView {
  remaining: number
  requests: number
  period_s: number
  burst: number
  /** Seconds until the bucket is full again. */
  reset_s: number
  scope: 'local' | 'global'
}

export type RateVerdict =
  | { ok: true }
  | { ok: false; limit: string; retryAfterS: number; headers: Record<string, string>; reason: string }

export class LocalRateLimiter {
  private limits: CompiledLimit[] = []
  private buckets: LRUCache<string, BucketState>
  private readonly now: () => number

  constructor(opts: { limits: CompiledLimit[]; maxBuckets: number; now?: () => number }) {
    this.now = opts.now ?? (() => performance.now())
    this.buckets = new LRUCache({ max: opts.maxBuckets, ttlAutopurge: false, perf: { now: this.now } })
    this.limits = opts.limits.filter((l) => l.scope === 'local')
  }

  /** Applies new limits; buckets of limits whose definition did not change keep their tokens. */
  update(limits: CompiledLimit[], maxBuckets: number): void {
    this.limits = limits.filter((l) => l.scope === 'local')
    if (maxBuckets !== this.buckets.max) {
      const next = new LRUCache<string, BucketState>({ max: maxBuckets, ttlAutopurge: false, perf: { now: this.now } })
      for (const [k, v] of [...this.buckets.entries()].reverse()) next.set(k, v, { ttl: this.buckets.getRemainingTTL(k) })
      this.buckets = next
    }
  }

  get size(): number {
    return this.buckets.size
  }

  private applicable(call: ToolCall, agent: PolicyInput['agent']): Array<{ limit: CompiledLimit; key: string }> {
    const out: Array<{ limit: CompiledLimit; key: string }> = []
    for (const limit of this.limits) {
      if (limitApplies(limit, call)) out.push({ limit, key: `${limit.fingerprint}\0${bucketKey(limit, call, agent)}` })
    }
    return out
  }

  private state(limit: CompiledLimit, key: string, now: number): BucketState {
    const s = this.buckets.get(key)
    return s ? refill(s, limit.shape, now) : fullBucket(limit.shape, now)
  }

  /** input.rate_limits: the applicable limits by name, as they stand before this call. */
  view(call: ToolCall, agent: PolicyInput['agent']): Record<string, LimitView> {
    const now = this.now()
    const out: Record<string, LimitView> = {}
    for (const { limit, key } of this.applicable(call, agent)) {
      const s = this.state(limit, key, now)
      out[limit.name] = { remaining: Math.floor(s.tokens), requests: limit.requests, period_s: limit.periodS, burst: limit.burst, reset_s: Math.ceil(secondsUntilFull(s, limit.shape)), scope: 'local' }
    }
    return out
  }

  /** Takes one token from every applicable bucket, or none when one of them is empty. */
  take(call: ToolCall, agent: PolicyInput['agent']): RateVerdict {
    const now = this.now()
    const states = this.applicable(call, agent).map(({ limit, key }) => ({ limit, key, s: this.state(limit, key, now) }))
    // The limit that frees up last decides the Retry-After: retrying earlier would fail again.
    let worst: { limit: CompiledLimit; wait: number; remaining: number } | null = null
    for (const { limit, s } of states) {
      const wait = secondsUntil(s, limit.shape, 1)
      if (wait > 0 && (worst === null || wait > worst.wait)) worst = { limit, wait, remaining: s.tokens }
    }
    if (worst !== null) {
      const { limit, wait } = worst
      return {
        ok: false,
        limit: limit.name,
        retryAfterS: Math.max(1, Math.ceil(wait)),
        headers: rateLimitHeaders({ name: limit.name, quota: limit.requests, windowS: limit.periodS, remaining: 0, resetS: wait }),
        reason: `rate limit ${limit.name} exceeded (${limit.requests} per ${limit.periodS}s${limit.per === 'tool' ? '' : ` per ${limit.per}`}); retry in ${Math.max(1, Math.ceil(wait))}s`,
      }
    }
    for (const { limit, key, s } of states) {
      const next = { tokens: s.tokens - 1, updatedMs: s.updatedMs }
      this.buckets.set(key, next, { ttl: Math.max(1, Math.ceil(secondsUntilFull(next, limit.shape) * 1000)) })
    }
    return { ok: true }
  }
}
