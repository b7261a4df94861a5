// The input document every policy evaluation receives, and the result it must return.
// Versioned: POLICY_INPUT_VERSION changes whenever a field changes meaning or is removed
// (docs/policy-input.md is the user-facing description).

import type { Access, Classification } from '../classify/toolcall.ts'

export const POLICY_INPUT_VERSION = 1

export interface PolicyInput {
  version: number
  agent: {
    namespace: string | null
    service_account: string | null
    pod: string | null
    spiffe_id: string | null
    labels: Record<string, string>
  }
  task: {
    id: string
    intent: string
    declared_tools: string[]
    started_at: string
    expires_at: string
    calls: number
    /** "issuer": opened by a verified task grant; "agent": declared by the agent itself (unsigned). */
    source: 'issuer' | 'agent'
    /** Config name of the grant's issuer (null for agent tasks). */
    issuer: string | null
    /** Limits from the grant (null: none given). */
    limits: { max_calls: number | null }
  } | null
  tool: {
    name: string
    access: Access
    data_classification: Classification | null
    labels: Record<string, string>
    route: string | null
    captures: Record<string, string>
  }
  request: {
    method: string
    scheme: string
    host: string
    port: number
    path: string
    /** Query parameters (names to lists of values). */
    query: Record<string, string[]>
    /** Selected, lower-cased headers; never credentials. */
    headers: Record<string, string>
  }
  mcp: {
    method: string
    tool: string | null
    arguments: unknown
  } | null
  /** Rate limits that apply to this call, by name, before it takes its token (docs/rate-limits.md). */
  rate_limits: Record<string, { remaining: number; requests: number; period_s: number; burst: number; reset_s: number; scope: 'local' | 'global' }>
  time: {
    /** RFC 3339. */
    now: string
    /** Nanoseconds since epoch, as OPA's time.now_ns(). */
    now_ns: number
  }
}

/** What the entrypoint (default toolgate/decision) must return. Anything else denies. */
export interface PolicyResult {
  allow: boolean
  reasons: string[]
  approval?: { reason: string }
  credential?: { scope?: string[]; audience?: string; ttl_s?: number }
}
