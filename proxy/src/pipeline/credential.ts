// Stage 6, credential: an allowed call of a tool that has a credential gets one from the broker
// for its task and tool (never a passthrough tool, never a call that only report mode let
// through), rendered into the upstream headers, replacing whatever the agent sent there. In a dry
// run nothing is fetched.

import type { CompiledTool } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { deny } from '../decide/deny.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import { reflectionGuard, type ReflectionGuard } from '../forward/reflection-guard.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { CredentialService, TaskService } from './services.ts'

export type CredentialOutcome =
  /** reflection: watches the response for the injected credential (forward/reflection-guard.ts). */
  | { ok: true; headers: [string, string][]; record: CredentialRecord | null; reflection?: ReflectionGuard | null }
  | { ok: false; decision: Decision }

export async function credentialStage(
  services: { credentials: CredentialService | null; tasks: TaskService | null },
  rt: Runtime,
  call: ToolCall,
  tool: CompiledTool | null,
  decision: Decision,
  headers: [string, string][],
  opts: { dryRun: boolean; signal: AbortSignal; span?: { end(attrs: Record<string, string>, error?: string): void } | undefined; onReflection?: (place: string) => void },
): Promise<CredentialOutcome> {
  const toolCredential = tool?.config.credential
  if (!toolCredential || !decision.allow) return { ok: true, headers, record: null }
  const { credentials, tasks } = services
  if (credentials === null) return { ok: false, decision: deny(decision, 'credential', ['credential providers are not configured'], { status: 503 }) }
  // `toolgate decide` prints the tool's provider from its config; nothing is issued here.
  if (opts.dryRun) return { ok: true, headers, record: null }
  const task = call.taskId !== null && tasks ? tasks.get(call.taskId) ?? null : null
  const got = await credentials.obtain({ decisionId: call.id, task, tool: call.tool ?? '', toolCredential, narrowing: decision.credential, agent: rt.agent, signal: opts.signal })
  opts.span?.end({ 'toolgate.credential.provider': toolCredential.provider }, got.ok ? undefined : got.reason)
  if (!got.ok) return { ok: false, decision: deny(decision, 'credential', [got.reason], { status: got.status }) }
  return {
    ok: true,
    headers: credentials.inject(headers, got.credential),
    reflection: reflectionGuard(got.credential.value, rt.config.hardening.reflection?.action ?? 'redact', opts.onReflection ?? (() => {})),
    record: { provider: got.credential.provider, issuance_id: got.credential.issuanceId, expires_at: new Date(got.credential.expiresAt).toISOString() },
  }
}
