// A call's upstream timeouts: the tool's own `timeouts` where it sets them, else the global
// `timeouts.*` (defaults in config/defaults.ts, chosen for LLM and MCP traffic: docs/config.md
// "Timeouts"). Read per call from the call's Runtime snapshot, so a reload applies to the next call.

import type { ResolvedConfig } from '../config/resolved.ts'
import type { ToolTimeouts } from '../config/schema.gen.ts'
import type { UpstreamTimeouts } from './forward.ts'

export function upstreamTimeouts(global: ResolvedConfig['timeouts'], tool: ToolTimeouts | undefined): UpstreamTimeouts {
  return {
    responseHeadersMs: tool?.response_headers_ms ?? global.response_headers_ms,
    idleMs: tool?.idle_ms ?? global.idle_ms,
    totalMs: tool?.total_ms ?? global.total_ms,
  }
}
