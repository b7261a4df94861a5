// The outcome of deciding one ToolCall. Produced by decide/, read by credential/, forward/ and record/.

export type DecisionStage =
  | 'parse' // the request itself was malformed or ambiguous
  | 'allowlist' // no tool matched, or a deny rule matched
  | 'route' // what toolgate cannot do safely on this route: a request to a passthrough tool, an unseen tunnel to an inspected tool, an upgrade the route does not allow
  | 'destination' // address checks (private ranges, resolution failure)
  | 'task' // task missing, expired or tool not declared
  | 'policy' // the OPA policy (including its errors: fail closed)
  | 'approval' // step-up approval denied or timed out
  | 'credential' // credential could not be obtained
  | 'internal' // toolgate itself failed on the request (a bug): refused, and recorded like any refusal
  | 'rate_limit' // a rate limit had no token left (ratelimit/)

export interface CredentialNarrowing {
  scope?: string[]
  audience?: string
  ttl_s?: number
}

export interface Decision {
  id: string
  /** What enforcement decides. */
  allow: boolean
  /** Whether the call is actually let through (true when allow, or when report mode overrides a deny). */
  pass: boolean
  /** enforce or report, as it applied to this call. */
  mode: 'enforce' | 'report'
  stage: DecisionStage | null
  reasons: string[]
  /** HTTP status for a refused call (400 malformed, 403 denied, 502/503/504 upstream or dependency). */
  status: number
  policyRevision: string | null
  /** Step-up approval asked for by the policy. */
  approval: { reason: string } | null
  credential: CredentialNarrowing | null
  /** Internal detail for the record only (e.g. a policy evaluation error); never sent to the agent. */
  error: string | null
  /** Time spent deciding, in seconds. */
  decideSeconds: number
  /** Set when a rate limit refused the call: which one, when to retry, the response headers. */
  rateLimit?: { limit: string; retryAfterS: number; headers: Record<string, string> }
}
