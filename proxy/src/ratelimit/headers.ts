// Response headers of a limited call: Retry-After (RFC 9110, whole seconds, rounded up) and the
// IETF RateLimit / RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers: structured
// field lists, `"name";q=quota;w=window` and `"name";r=remaining;t=seconds`).

export interface LimitState {
  name: string
  /** Calls per window. */
  quota: number
  windowS: number
  remaining: number
  /** Seconds until the limited call could succeed (t of RateLimit). */
  resetS: number
}

/** A limit name as a structured-field string (names are [a-z0-9_-], quoted for the sf-string form). */
function sfString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

export function rateLimitHeaders(state: LimitState): Record<string, string> {
  const t = Math.max(1, Math.ceil(state.resetS))
  return {
    'retry-after': String(t),
    'ratelimit-policy': `${sfString(state.name)};q=${state.quota};w=${state.windowS}`,
    ratelimit: `${sfString(state.name)};r=${Math.max(0, Math.floor(state.remaining))};t=${t}`,
  }
}
