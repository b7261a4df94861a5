// The canonical form of one outbound request, produced once by classify/ and used by every later
// stage: decide/ decides on it and forward/ sends exactly it upstream. Nothing downstream re-reads
// the raw request line or the raw headers.

export type Access = 'read' | 'write' | 'execute' | 'delegate'
export type Classification = 'public' | 'internal' | 'confidential' | 'restricted'
export type Scheme = 'http' | 'https'

/** How the request reached toolgate. */
export type Via =
  | 'forward' // absolute-form request to the forward proxy
  | 'route' // /t/<tool>/... route prefix
  | 'connect' // CONNECT target (tunnel decision, passthrough or before TLS interception)
  | 'intercepted' // a request read inside a terminated CONNECT tunnel
  | 'transparent' // redirected traffic (iptables), decided by Host or SNI

/** Destination in canonical form. */
export interface Target {
  scheme: Scheme
  /** Lower case, no trailing dot, IDN in ASCII (punycode), IPv6 without brackets, IPv4 dotted quad. */
  host: string
  /** True when host is an IP literal. */
  hostIsIp: boolean
  port: number
  /** Normalised path: dot segments removed, unreserved percent-escapes decoded, other escapes upper-cased. Starts with '/'. */
  path: string
  /** Raw query string without '?', '' when absent. Forwarded as is. */
  query: string
}

/** JSON-RPC view of an MCP request (null when the tool is not an MCP server). */
export interface McpCall {
  /** JSON-RPC method, e.g. tools/call, tools/list, initialize. */
  method: string
  /** JSON-RPC id; null for notifications. */
  id: string | number | null
  /** tools/call only: params.name. */
  toolName: string | null
  /** tools/call only: params.arguments. */
  arguments: unknown
  /** W3C trace context from params._meta (traceparent, tracestate), when present as strings; telemetry/ validates it. */
  traceContext?: { traceparent: string; tracestate?: string }
}

export interface MatchedRoute {
  /** Index into the tool's routes, for explanations. */
  index: number
  name: string | null
  pattern: string
  captures: Record<string, string>
  upgrade: boolean
}

export interface ToolCall {
  /** Decision id (also the record id and the id in a 403 body). */
  id: string
  via: Via
  method: string
  target: Target
  /** Name of the allowlist tool this matched, null when none did. */
  tool: string | null
  route: MatchedRoute | null
  access: Access | null
  classification: Classification | null
  labels: Record<string, string>
  /** Headers the policy may read (lower-cased names; never credentials or cookies). */
  headers: Record<string, string>
  mcp: McpCall | null
  /** Value of the toolgate-task header, if any; or the task a verified Txn-Token named (trust/resolve-task.ts). */
  taskId: string | null
  /** Why the Txn-Token the call presented cannot be used: decide/ denies with this reason. */
  taskRefusal?: string
  /** True when the client asked for a protocol upgrade. */
  upgrade: boolean
}
