// The soak's traffic mix: each kind of call, how to send it through toolgate, and what the one
// right answer is. Verification is strict: a status alone is not enough where the body can show
// more (the upstream's echo of the id, the credential check, the MCP result).

export interface SoakRequest {
  kind: string
  path: string
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** Sent as https://ORIGIN/path through a CONNECT tunnel: a kept-alive tunnel or a fresh one per call. */
  tunnel?: 'kept' | 'fresh'
  check(status: number, body: string): string | null
}

export interface MixEntry { kind: string; weight: number; make(n: number): SoakRequest }

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

function parse(body: string): Record<string, unknown> | null {
  try { return JSON.parse(body) as Record<string, unknown> } catch { return null }
}

const expectEcho = (n: number) => (status: number, body: string): string | null => {
  // toolgate's reason (a denial's JSON body) says why: kept short, and never a secret (toolgate
  // writes no secret into an error body; the soak checks that separately).
  if (status !== 200) return `expected 200 from the upstream, got ${status}: ${body.slice(0, 200)}`
  return parse(body)?.['id'] === String(n) ? null : `upstream body does not echo id ${n}`
}

const expectDenied = (status: number, body: string): string | null => {
  if (status !== 403) return `expected 403, got ${status}`
  // The error answer's shape (pipeline/error-body.ts): {error: {message, type, code, decision_id}}.
  const e = parse(body)?.['error'] as { code?: unknown; message?: unknown; decision_id?: unknown } | undefined
  return e?.code === 'denied' && typeof e.message === 'string' && typeof e.decision_id === 'string' ? null : `403 without a JSON {error: {code: "denied", message, decision_id}} body: ${body.slice(0, 200)}`
}

const mcpCall = (n: number, tool: string, text: string): string => JSON.stringify({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: tool, arguments: tool === 'echo' ? { text } : {} } })

interface McpReply { id?: unknown; result?: { isError?: boolean; content?: { text?: string }[] } }

export interface MixOptions {
  mcp: boolean
  /** Prefix calls: allowed, denied, unknown tool, slow, resets, timeouts (default on). */
  traffic?: boolean
  /** Absolute-form forward-proxy calls to this upstream origin (null: none). */
  forward?: string | null
  /** Credentialed calls (default on). */
  credentials?: boolean
  /** CONNECT + intercepted TLS calls to the HTTPS tool (null: none). */
  tls?: boolean
}

export function buildMix(opts: MixOptions): MixEntry[] {
  const all: MixEntry[] = [
    { kind: 'allowed', weight: 30, make: (n) => ({ kind: 'allowed', method: 'GET', path: `/t/soak/ok/${n}`, check: expectEcho(n) }) },
    {
      kind: 'credentialed', weight: 15, make: (n) => ({
        kind: 'credentialed', method: 'GET', path: `/t/soak-cred/cred/${n}`,
        // The agent's own Authorization must be replaced by the injected one.
        headers: { authorization: 'Bearer agent-supplied-must-be-replaced' },
        check: (status, body) => {
          const why = expectEcho(n)(status, body)
          if (why) return `${why}${status === 401 ? ` (upstream says credential ${parse(body)?.['auth']})` : ''}`
          return parse(body)?.['auth'] === 'ok' ? null : 'credential not checked ok'
        },
      }),
    },
    { kind: 'denied-path', weight: 8, make: (n) => ({ kind: 'denied-path', method: 'GET', path: `/t/soak/admin/${n}`, check: expectDenied }) },
    { kind: 'denied-method', weight: 5, make: (n) => ({ kind: 'denied-method', method: 'POST', path: `/t/soak/ok/${n}`, headers: { 'content-type': 'application/json' }, body: '{"x":1}', check: expectDenied }) },
    { kind: 'unknown-tool', weight: 3, make: (n) => ({ kind: 'unknown-tool', method: 'GET', path: `/t/nope/${n}`, check: (s) => (s === 404 ? null : `expected 404 for an unknown tool, got ${s}`) }) },
    { kind: 'slow', weight: 10, make: (n) => ({ kind: 'slow', method: 'GET', path: `/t/soak/slow/${20 + (n % 7) * 20}/${n}`, check: expectEcho(n) }) },
    { kind: 'reset', weight: 5, make: (n) => ({ kind: 'reset', method: 'GET', path: `/t/soak/reset/${n}`, check: (s) => (s === 502 ? null : `expected 502 for an upstream reset, got ${s}`) }) },
    { kind: 'timeout', weight: 4, make: (n) => ({ kind: 'timeout', method: 'GET', path: `/t/soak/hang/${n}`, check: (s) => (s === 504 ? null : `expected 504 for an upstream that never answers, got ${s}`) }) },
  ]
  const mix = all.filter((e) => (e.kind === 'credentialed' ? opts.credentials ?? true : opts.traffic ?? true))
  if (opts.tls) {
    mix.push(
      { kind: 'tls', weight: 8, make: (n) => ({ kind: 'tls', method: 'GET', path: `/tls/ok/${n}`, tunnel: 'kept', check: expectEcho(n) }) },
      { kind: 'tls-new-tunnel', weight: 2, make: (n) => ({ kind: 'tls-new-tunnel', method: 'GET', path: `/tls/ok/${n}`, tunnel: 'fresh', check: expectEcho(n) }) },
      { kind: 'tls-denied', weight: 2, make: (n) => ({ kind: 'tls-denied', method: 'GET', path: `/tls/admin/${n}`, tunnel: 'kept', check: expectDenied }) },
    )
  }
  const origin = opts.forward
  if (origin) {
    // The Host header must name the same authority as the absolute-form target (toolgate refuses
    // a request whose two names disagree).
    const host = new URL(origin).host
    mix.push(
      { kind: 'forward', weight: 10, make: (n) => ({ kind: 'forward', method: 'GET', path: `${origin}/ok/${n}`, headers: { host }, check: expectEcho(n) }) },
      { kind: 'forward-denied', weight: 3, make: (n) => ({ kind: 'forward-denied', method: 'GET', path: `${origin}/admin/${n}`, headers: { host }, check: expectDenied }) },
    )
  }
  if (opts.mcp) {
    mix.push(
      {
        kind: 'mcp-allowed', weight: 10, make: (n) => ({
          kind: 'mcp-allowed', method: 'POST', path: '/t/mcp/mcp', headers: MCP_HEADERS, body: mcpCall(n, 'echo', `soak-${n}`),
          check: (status, body) => {
            if (status !== 200) return `expected 200, got ${status}`
            const j = parse(body) as McpReply | null
            return j?.id === n && j.result?.isError !== true && j.result?.content?.[0]?.text === `soak-${n}` ? null : 'MCP result is not the echo of this call'
          },
        }),
      },
      {
        kind: 'mcp-denied', weight: 5, make: (n) => ({
          kind: 'mcp-denied', method: 'POST', path: '/t/mcp/mcp', headers: MCP_HEADERS, body: mcpCall(n, 'delete_everything', ''),
          check: (status, body) => {
            // toolgate answers a denied tools/call as a tool error (HTTP 200, isError) - see
            // proxy/src/classify/mcp/respond.ts - and the server must never have run it.
            if (body.includes('deleted everything')) return 'the denied MCP tool reached the server'
            const j = parse(body) as McpReply | null
            return status === 200 && j?.id === n && j.result?.isError === true ? null : `expected a tool error result for a denied tools/call, got ${status} ${body.slice(0, 120)}`
          },
        }),
      },
    )
  }
  return mix
}

/** Deterministic weighted choice: call i gets the kind at position (i * stride) mod total. */
export function picker(mix: MixEntry[]): (i: number) => MixEntry {
  const slots: MixEntry[] = []
  for (const m of mix) for (let k = 0; k < m.weight; k++) slots.push(m)
  if (slots.length === 0) throw new Error('picker: the mix has no traffic') // (the stride search below would never end)
  // A stride coprime with the slot count spreads each kind evenly through time.
  let stride = 37
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))
  while (gcd(stride, slots.length) !== 1) stride++
  return (i) => slots[(i * stride) % slots.length]!
}
