// What a hot reload does with each config field. Every leaf of toolgate.schema.json is listed in
// exactly one of the two tables below (test/config/reload-table.test.ts checks that against the
// schema, so a new field cannot be forgotten). docs/config.md shows the same table.
//
// Reloadable fields reach their reader through the new Runtime snapshot (read per request or per
// connection) or through an apply step in server.ts; restart-only fields are bound to something
// that exists once per process. A reload that changes a restart-only field still applies
// everything else; the field keeps its start value, and the reload log line and /readyz list it.

import { isDeepStrictEqual } from 'node:util'
import type { ResolvedConfig } from './resolved.ts'

/** Reloadable fields (schema paths; a path covers everything under it) and who applies them. */
export const RELOADABLE: Readonly<Record<string, string>> = {
  mode: 'runtime snapshot (per request)',
  limits: 'runtime snapshot (per request); listener and interceptor HTTP limits per new connection',
  'timeouts.connect_ms': 'upstream pools of the new snapshot',
  'timeouts.response_headers_ms': 'upstream pools of the new snapshot; forwarded calls (per call)',
  'timeouts.idle_ms': 'upstream pools and forwarded calls (per call); listener and interceptor sockets per new connection',
  'timeouts.total_ms': 'runtime snapshot (per forwarded call)',
  'timeouts.client_headers_ms': 'listeners, transparent TLS ClientHello wait and interceptor handshake, per new connection',
  'timeouts.keep_alive_ms': 'listeners and interceptor, per new connection',
  'timeouts.policy_eval_ms': 'runtime snapshot (per decision)',
  'timeouts.shutdown_ms': 'read at shutdown',
  'logging.level': 'operational logger',
  'logging.records': 'record sink (reopened when the target changes; a sink passed in by an embedder is kept)',
  policy: 'policy engine reload (a bundle that fails to load keeps the last good one)',
  agent: 'runtime snapshot (per request: policy input and records)',
  'tls.upstream_ca_files': 'upstream pools of the new snapshot',
  credentials: 'credential broker (providers)',
  'tasks.required': 'runtime snapshot (per decision)',
  'tasks.default_ttl_s': 'task registry (tasks created from now on)',
  'tasks.max_ttl_s': 'task registry (tasks created from now on)',
  'tasks.max_tasks': 'task registry (tasks created from now on)',
  'tasks.agent_declared': 'trust settings, rebuilt on reload (a reload that cannot build them keeps the previous ones)',
  'tasks.audience': 'trust settings, rebuilt on reload',
  'tasks.issuers': 'trust settings, rebuilt on reload (issuer keys and JWKS clients)',
  'approvals.timeout_ms': 'approval gate (approvals requested from now on)',
  'approvals.audience': 'trust settings, rebuilt on reload',
  'approvals.approvers': 'trust settings, rebuilt on reload',
  'approvals.kubernetes': 'trust settings, rebuilt on reload (the TokenReview client)',
  'approvals.max_pending': 'approval gate (approvals requested from now on)',
  'approvals.webhook': 'approval gate (approvals requested from now on are announced to the new URL)',
  hardening: 'runtime snapshot (override hints removed before forwarding; the reflection action, per call)',
  rate_limits: 'rate-limit stage (local buckets recompiled; a changed service section gets a new client)',
  tools: 'runtime snapshot (allowlist, MCP rules, destinations, per-tool timeouts per call); TLS interception is created first if a new tool needs it',
}

/** Restart-only fields and why a running process cannot change them. */
export const RESTART_ONLY: Readonly<Record<string, string>> = {
  version: 'the config format of the file; a different version is a different file',
  listeners: 'sockets are bound once, at start',
  'tls.ca': 'the agent loaded the published CA certificate when it started; interception keeps its CA for the life of the process',
  'tls.leaf_cache_size': 'the leaf certificate cache is sized when interception is created',
  transparent: 'the iptables rules were written by the init container when the pod started',
  telemetry: 'trace and log exporters are started once, at start',
  'logging.checkpoints': 'the record chain is set up when the sink opens: at start, or when a reload changes logging.records',
}

function valueAt(config: ResolvedConfig, path: string): unknown {
  let v: unknown = config
  for (const key of path.split('.')) v = v === undefined || v === null ? undefined : (v as Record<string, unknown>)[key]
  return v
}

/** Restart-only fields whose value in `next` differs from the one the process started with. */
export function restartRequired(started: ResolvedConfig, next: ResolvedConfig): string[] {
  return Object.keys(RESTART_ONLY).filter((path) => !isDeepStrictEqual(valueAt(started, path), valueAt(next, path)))
}
