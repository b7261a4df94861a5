// The task, credential and approval services the pipeline calls, as narrow structural
// interfaces: the pipeline depends on what it needs, not on the classes that provide it
// (tasks/registry.ts, credential/broker.ts, admin/api-approvals.ts).

import type { Credential } from '../credential/credential.ts'
import type { CredentialNarrowing } from '../decide/decision.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { ToolCredential } from '../config/schema.gen.ts'
import type { Task } from '../tasks/registry.ts'

export interface TaskService {
  get(id: string): Task | undefined
  policyView(task: Task): PolicyInput['task']
  countCall(id: string, n?: number): void
}

export interface CredentialService {
  obtain(req: { decisionId: string; task: Task | null; tool: string; toolCredential: ToolCredential; narrowing: CredentialNarrowing | null; agent: PolicyInput['agent']; signal?: AbortSignal }): Promise<{ ok: true; credential: Credential } | { ok: false; status: number; reason: string }>
  inject(headers: [string, string][], credential: Credential): [string, string][]
}

export interface ApprovalService {
  request(info: { decisionId: string; tool: string; method: string; host: string; path: string; reason: string; taskId: string | null; target: string; bodySha256: string; callDigest: string }, signal?: AbortSignal): Promise<{ approved: boolean; reason: string }>
}

/** Verifies a Txn-Token task grant (trust/grants.ts). */
export interface GrantService {
  resolve(token: string): Promise<{ ok: true; task: Task } | { ok: false; reason: string }>
}

export interface PipelineServices {
  tasks: TaskService | null
  /** Absent or null: a Txn-Token is refused (no issuers). */
  grants?: GrantService | null
  credentials: CredentialService | null
  approvals: ApprovalService | null
}
