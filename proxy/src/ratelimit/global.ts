// Global rate limits through the Envoy rate limit service (envoyproxy/ratelimit or any server of
// envoy.service.ratelimit.v3.RateLimitService over gRPC), so every sidecar that uses the same
// service and domain shares one count. Each applicable limit with scope: global becomes one
// descriptor: [("toolgate_limit", <name>), (<per>, <bucket key>)]; the service's own config says
// how many requests per unit each descriptor allows. Bounded by a deadline (timeout_ms); when the
// service cannot answer (unreachable, deadline, error) the call is refused (failure_mode: deny,
// the default: fail closed, 503) or let through (allow), and either way counted and recorded.

import { cjsExports } from '../cjs-exports.ts'
import type { Client, Metadata, ServiceError } from '@grpc/grpc-js'
import type { ToolCall } from '../classify/toolcall.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { RateLimitService } from '../config/schema.gen.ts'
import { bucketKey, limitApplies, type CompiledLimit } from './limits.ts'
import { rlsDescriptor, UNIT_SECONDS, type RlsResponse } from './rls-proto.ts'
import { rateLimitHeaders } from './headers.ts'

export const RLS_DEFAULTS = { domain: 'toolgate', timeout_ms: 200, failure_mode: 'deny' } as const

export type GlobalVerdict =
  | { ok: true; unavailable?: string; detail?: string }
  | { ok: false; kind: 'limited'; limit: string; retryAfterS: number; headers: Record<string, string>; reason: string }
  | { ok: false; kind: 'unavailable'; reason: string; detail: string }

type ShouldRateLimit = (req: unknown, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: RlsResponse) => void) => void
type RlsClient = Client & { ShouldRateLimit: ShouldRateLimit }

/**
 * The gRPC client, created on the first check. @grpc/grpc-js and its proto loader take ~60 ms to
 * load, so they are imported only by a sidecar that has global limits and makes a call under one.
 */
async function rlsClient(address: string): Promise<{ client: RlsClient; metadata: () => Metadata }> {
  const [{ credentials, loadPackageDefinition, Metadata: GrpcMetadata }, { fromJSON }] = await Promise.all([import('@grpc/grpc-js').then(cjsExports), import('@grpc/proto-loader').then(cjsExports)])
  const def = fromJSON(rlsDescriptor as never, { keepCase: true, enums: String, defaults: true, longs: String })
  const pkg = loadPackageDefinition(def) as unknown as { envoy: { service: { ratelimit: { v3: { RateLimitService: new (addr: string, creds: ReturnType<typeof credentials.createInsecure>, opts?: object) => RlsClient } } } } }
  // Plaintext h2c, as envoyproxy/ratelimit serves by default inside a cluster; bounded message size.
  const client = new pkg.envoy.service.ratelimit.v3.RateLimitService(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 1 << 20 })
  return { client, metadata: () => new GrpcMetadata() }
}

/** Descriptor values are bounded: the service keys Redis with them. */
const MAX_VALUE_CHARS = 256

export class GlobalRateLimiter {
  private readonly address: string
  private client: Promise<{ client: RlsClient; metadata: () => Metadata }> | null = null
  private closed = false
  private readonly domain: string
  private readonly timeoutMs: number
  private readonly failOpen: boolean
  private limits: CompiledLimit[]

  constructor(service: RateLimitService, limits: CompiledLimit[]) {
    this.address = service.address
    this.domain = service.domain ?? RLS_DEFAULTS.domain
    this.timeoutMs = service.timeout_ms ?? RLS_DEFAULTS.timeout_ms
    this.failOpen = (service.failure_mode ?? RLS_DEFAULTS.failure_mode) === 'allow'
    this.limits = limits.filter((l) => l.scope === 'global')
  }

  update(limits: CompiledLimit[]): void {
    this.limits = limits.filter((l) => l.scope === 'global')
  }

  /** One ShouldRateLimit call for every global limit that applies (none: allowed without a call). */
  async check(call: ToolCall, agent: PolicyInput['agent']): Promise<GlobalVerdict> {
    const applicable = this.limits.filter((l) => limitApplies(l, call))
    if (applicable.length === 0) return { ok: true }
    const descriptors = applicable.map((l) => ({ entries: [{ key: 'toolgate_limit', value: l.name }, { key: l.per, value: bucketKey(l, call, agent).slice(0, MAX_VALUE_CHARS) }] }))
    let res: RlsResponse
    try {
      if (this.closed) throw new Error('rate limit client closed')
      const { client, metadata } = await (this.client ??= rlsClient(this.address))
      res = await new Promise<RlsResponse>((resolve, reject) => {
        client.ShouldRateLimit({ domain: this.domain, descriptors, hits_addend: 1 }, metadata(), { deadline: Date.now() + this.timeoutMs }, (err, r) => (err || !r ? reject(err ?? new Error('empty response')) : resolve(r)))
      })
    } catch (err) {
      const e = err as ServiceError
      // The agent sees the status only; the detail (addresses, messages) goes to the record.
      const reason = `rate limit service unavailable (${e.code !== undefined ? `gRPC status ${e.code}` : 'error'})`
      const detail = String(e.details ?? e.message).slice(0, 300)
      return this.failOpen ? { ok: true, unavailable: reason, detail } : { ok: false, kind: 'unavailable', reason: `${reason}; failing closed`, detail }
    }
    if (res.overall_code !== 'OVER_LIMIT') return { ok: true }
    // The status of the first descriptor over its limit names the limit and the retry time.
    const i = Math.max(0, res.statuses.findIndex((s) => s.code === 'OVER_LIMIT'))
    const limit = applicable[i] ?? applicable[0]!
    const s = res.statuses[i]
    const reset = s?.duration_until_reset ? Number(s.duration_until_reset.seconds) + s.duration_until_reset.nanos / 1e9 : 1
    const quota = s?.current_limit?.requests_per_unit ?? limit.requests
    const window = (s?.current_limit ? UNIT_SECONDS[s.current_limit.unit] : null) ?? limit.periodS
    const retryAfterS = Math.max(1, Math.ceil(reset))
    return {
      ok: false,
      kind: 'limited',
      limit: limit.name,
      retryAfterS,
      headers: rateLimitHeaders({ name: limit.name, quota, windowS: window, remaining: 0, resetS: reset }),
      reason: `global rate limit ${limit.name} exceeded (${quota} per ${window}s); retry in ${retryAfterS}s`,
    }
  }

  close(): void {
    this.closed = true
    void this.client?.then(({ client }) => client.close(), () => {})
  }
}
