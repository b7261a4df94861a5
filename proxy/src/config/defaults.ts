// The values toolgate uses for every field a config leaves out. The schema carries the same
// values as `default` annotations (for docs/config.md); test/config checks the two agree.

import type { Limits, Tasks, Timeouts } from './schema.gen.ts'

export const DEFAULT_MODE = 'enforce'

// Loopback by default: the agent shares the pod's network namespace, and a proxy bound to every
// interface would let other pods spend this agent's credentials.
export const DEFAULT_LISTENERS = {
  proxy: { host: '127.0.0.1', port: 15001 },
  admin: { host: '127.0.0.1', port: 15000 },
  control: { host: '127.0.0.1', port: 15004 },
  transparent_http: { host: '127.0.0.1', port: 15002 },
  transparent_tls: { host: '127.0.0.1', port: 15003 },
} as const

export const DEFAULT_LIMITS: Required<Limits> = {
  max_header_bytes: 16384,
  max_request_body_bytes: 10 * 1024 * 1024,
  max_response_body_bytes: 100 * 1024 * 1024,
  max_inspected_body_bytes: 1024 * 1024,
  max_connections: 4096,
  max_upstream_connections_per_origin: 128,
  max_batch_messages: 16,
  mcp_evaluation_budget_ms: 100,
}

export const DEFAULT_TIMEOUTS: Required<Timeouts> = {
  connect_ms: 5000,
  // LLM and MCP traffic (docs/config.md "Timeouts"): a non-streaming completion or an MCP tool
  // call may take minutes before its first byte (the OpenAI and Anthropic SDKs wait 600 s, so a
  // shorter cut makes them retry a call the upstream is still running); SSE streams can be
  // silent for minutes between events; a stream may legitimately run for hours, so no total.
  response_headers_ms: 600_000,
  idle_ms: 300_000,
  total_ms: 0,
  client_headers_ms: 10000,
  keep_alive_ms: 5000,
  policy_eval_ms: 100,
  shutdown_ms: 10000,
}

export const DEFAULT_TASKS: Required<Pick<Tasks, 'required' | 'default_ttl_s' | 'max_ttl_s' | 'max_tasks' | 'agent_declared'>> = {
  required: false,
  default_ttl_s: 900,
  max_ttl_s: 86_400,
  max_tasks: 1000,
  agent_declared: false,
}

export const DEFAULT_APPROVALS = { timeout_ms: 120_000, max_pending: 100 } as const

export const DEFAULT_TLS = { leaf_cache_size: 1000 } as const

export const DEFAULT_LOGGING = { level: 'info', records: 'stdout' } as const

/** Signed checkpoints of the record chain (record/chain.ts). */
export const DEFAULT_CHECKPOINTS = { interval_s: 60, every_records: 1000 } as const

export const DEFAULT_POLICY = {
  entrypoint: 'toolgate/decision',
  poll: { min_delay_ms: 10000, max_delay_ms: 30000 },
} as const

/** Environment variables the injector sets, by agent field. */
export const AGENT_ENV = {
  namespace: 'POD_NAMESPACE',
  pod: 'POD_NAME',
  service_account: 'SERVICE_ACCOUNT',
  spiffe_id: 'SPIFFE_ID',
} as const
