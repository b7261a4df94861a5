// A Runtime is the immutable snapshot of everything derived from one config: the compiled
// allowlist, per-tool upstream settings and the upstream pools. A reload builds a new Runtime
// and swaps the reference; the old one's pools close once their in-flight requests finish.

import { compileAllowlist, type Allowlist } from '../classify/allowlist.ts'
import { destinationRules } from '../decide/destination.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { UpstreamPools, type ToolUpstream } from '../forward/pools.ts'
import type { ResolvedConfig } from '../config/resolved.ts'
import { resolve } from 'node:path'
import { compileMcpRules, type CompiledMcpRules } from '../classify/mcp/rules.ts'
import { overrideHints, type OverrideHints } from '../forward/override-hints.ts'
import { trackLive } from '../telemetry/live-objects.ts'

export interface Runtime {
  config: ResolvedConfig
  allowlist: Allowlist
  upstreams: Map<string, ToolUpstream>
  /** Compiled MCP rules of the tools that are MCP servers. */
  mcp: Map<string, CompiledMcpRules>
  pools: UpstreamPools
  agent: PolicyInput['agent']
  /** Override hints removed before forwarding (config hardening.override_hints). */
  overrideHints: OverrideHints
}

export function buildRuntime(config: ResolvedConfig): Runtime {
  const allowlist = compileAllowlist(config.tools)
  const upstreams = new Map<string, ToolUpstream>()
  const mcp = new Map<string, CompiledMcpRules>()
  for (const tool of config.tools) {
    if (tool.mcp) mcp.set(tool.name, compileMcpRules(tool.mcp))
    upstreams.set(tool.name, {
      name: tool.name,
      rules: destinationRules(tool.match.host, tool.allow_addresses ?? []),
      caFile: tool.ca_file ? resolve(config.source.dir, tool.ca_file) : null,
    })
  }
  const t = config.timeouts
  const pools = new UpstreamPools({
    connectTimeoutMs: t.connect_ms,
    headersTimeoutMs: t.response_headers_ms,
    bodyTimeoutMs: t.idle_ms,
    keepAliveMs: 4000,
    connectionsPerOrigin: config.limits.max_upstream_connections_per_origin,
    maxResponseHeaderBytes: config.limits.max_header_bytes * 4,
    extraCaFiles: (config.tls.upstream_ca_files ?? []).map((f) => resolve(config.source.dir, f)),
    maxPools: 256,
  })
  const a = config.agent
  // Counted until collected: a superseded snapshot must go once its last in-flight call ends.
  return trackLive('config_snapshot', {
    config,
    allowlist,
    upstreams,
    mcp,
    pools,
    overrideHints: overrideHints(config.hardening.override_hints),
    agent: { namespace: a.namespace ?? null, service_account: a.service_account ?? null, pod: a.pod ?? null, spiffe_id: a.spiffe_id ?? null, labels: a.labels ?? {} },
  })
}
