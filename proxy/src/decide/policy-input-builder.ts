// Builds the PolicyInput document for one ToolCall. Pure: everything it reads is passed in.

import { POLICY_INPUT_VERSION, type PolicyInput } from './policy-input.ts'
import type { ToolCall } from '../classify/toolcall.ts'

function queryParams(query: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  if (query === '') return out
  for (const [k, v] of new URLSearchParams(query)) (out[k] ??= []).push(v)
  return out
}

export function buildPolicyInput(call: ToolCall, agent: PolicyInput['agent'], task: PolicyInput['task'], now: Date, rateLimits: PolicyInput['rate_limits'] = {}): PolicyInput {
  return {
    version: POLICY_INPUT_VERSION,
    agent,
    task,
    tool: {
      name: call.tool ?? '',
      access: call.access ?? 'read',
      data_classification: call.classification,
      labels: call.labels,
      route: call.route?.pattern ?? null,
      captures: call.route?.captures ?? {},
    },
    request: {
      method: call.method,
      scheme: call.target.scheme,
      host: call.target.host,
      port: call.target.port,
      path: call.target.path,
      query: queryParams(call.target.query),
      headers: call.headers,
    },
    mcp: call.mcp ? { method: call.mcp.method, tool: call.mcp.toolName, arguments: call.mcp.arguments ?? null } : null,
    rate_limits: rateLimits,
    time: { now: now.toISOString(), now_ns: now.getTime() * 1e6 },
  }
}
