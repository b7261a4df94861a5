// One call that builds the task registry, credential broker, task grants and approval gate from a
// resolved config, plus the routes that expose them: `controlRoutes` (tasks, approvals: every call
// authenticated) for the control listener and `adminRoutes` (JWKS: public, read-only) for the
// admin and metrics listeners. server.ts passes `services` to the pipeline, calls applyConfig()
// on hot reload and close() on shutdown.

import type { Registry } from 'prom-client'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ResolvedConfig } from '../config/resolved.ts'
import type { Logger } from '../record/log.ts'
import { TaskRegistry } from '../tasks/registry.ts'
import { CredentialBroker } from './broker.ts'
import { ApprovalGate } from '../admin/api-approvals.ts'
import { handleTasksApi } from '../admin/api-tasks.ts'
import { handleJwks } from '../admin/jwks.ts'
import { TaskGrants, workloadIdentities } from '../trust/grants.ts'
import { Approvers } from '../trust/approvers.ts'
import { buildTrustSettings, type TrustSettings } from '../trust/settings.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { RecordWriter } from '../record/record-types.ts'

export type AdminRouteFn = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

export interface CredentialServices {
  tasks: TaskRegistry
  credentials: CredentialBroker
  approvals: ApprovalGate
  grants: TaskGrants
  /** Read-only routes (JWKS) for the admin and metrics listeners. */
  adminRoutes: AdminRouteFn[]
  /** Task and approval API for the control listener (each route authenticates its caller). */
  controlRoutes: AdminRouteFn[]
  applyConfig(config: ResolvedConfig): void
  close(): Promise<void>
}

export async function createCredentialServices(config: ResolvedConfig, deps: { registry: Registry; logger: Logger; records: RecordWriter }): Promise<CredentialServices> {
  let trust: TrustSettings = buildTrustSettings(config)
  let agent: PolicyInput['agent'] = config.agent as PolicyInput['agent']
  // Every default is already filled in by the config (config/defaults.ts).
  const t = config.tasks
  const a = config.approvals
  let toolNames: ReadonlySet<string> = new Set(config.tools.map((tool) => tool.name))
  const tasks = new TaskRegistry({ defaultTtlS: Math.min(t.default_ttl_s, t.max_ttl_s), maxTtlS: t.max_ttl_s, maxTasks: t.max_tasks, registry: deps.registry })
  const credentials = new CredentialBroker({
    providers: config.credentials,
    configDir: config.source.dir,
    registry: deps.registry,
    logger: deps.logger.child({ component: 'credentials' }),
    records: deps.records,
    tasks,
  })
  await credentials.init()
  const grants = new TaskGrants({ issuers: () => trust.issuers, audience: () => trust.audience, tasks, knownTools: () => toolNames, agent: () => agent, registry: deps.registry, records: deps.records })
  tasks.on('ended', (task, reason) => {
    deps.records.write({ type: 'task_ended', time: new Date().toISOString(), task: task.id, source: task.source, issuer: task.issuer, reason, calls: task.calls })
  })
  const approvers = new Approvers({ approvers: () => trust.approvers, audience: () => trust.approvalAudience, kubernetes: () => trust.kubernetes })
  const approvals = new ApprovalGate({
    approvers,
    timeoutMs: a.timeout_ms,
    maxPending: a.max_pending,
    ...(a.webhook ? { webhook: a.webhook } : {}),
    records: deps.records,
    logger: deps.logger.child({ component: 'approvals' }),
    registry: deps.registry,
    taskAlive: (id) => tasks.get(id) !== undefined,
  })
  // A call held for approval dies with its task (never released later without it).
  tasks.on('ended', (task, reason) => approvals.cancelTask(task.id, reason))
  const controlRoutes: AdminRouteFn[] = [
    (req, res, url) => handleTasksApi(req, res, url, {
      tasks,
      grants,
      knownTools: () => toolNames,
      revokeTask: (id) => credentials.revokeTask(id),
      agentDeclared: () => trust.agentDeclared,
      issuers: () => trust.issuers,
      audience: () => trust.audience,
    }),
    (req, res, url) => approvals.handleApi(req, res, url),
  ]
  const adminRoutes: AdminRouteFn[] = [
    (req, res, url) => handleJwks(req, res, url, { jwks: () => credentials.jwks() }),
  ]
  return {
    tasks,
    credentials,
    approvals,
    grants,
    adminRoutes,
    controlRoutes,
    applyConfig(next) {
      // Providers, tool names, the agent's identity, the trust settings (issuers, approvers), the
      // task and approval bounds and the approval webhook follow reloads (config/reload.ts).
      credentials.update(next.credentials, next.source.dir)
      const nt = next.tasks
      const na = next.approvals
      tasks.setLimits({ defaultTtlS: Math.min(nt.default_ttl_s, nt.max_ttl_s), maxTtlS: nt.max_ttl_s, maxTasks: nt.max_tasks })
      approvals.setLimits({ timeoutMs: na.timeout_ms, maxPending: na.max_pending })
      approvals.setWebhook(na.webhook ?? null)
      toolNames = new Set(next.tools.map((tool) => tool.name))
      agent = next.agent as PolicyInput['agent']
      grants.clear()
      try {
        const previous = trust
        trust = buildTrustSettings(next)
        void previous.kubernetes?.close()
        grants.clear()
      } catch (err) {
        deps.logger.error('trust settings not applied; keeping the previous ones', { error: (err as Error).message })
      }
      // Trust withdrawn ends what it opened: tasks of an issuer no longer configured, granted to
      // a workload identity this agent no longer has, or declared by the agent once that is off.
      // (A task id keeps working without its grant, so clearing the grant cache is not enough.)
      const ids = workloadIdentities(agent)
      const revoked = tasks.endWhere((task) => task.source === 'agent'
        ? !trust.agentDeclared
        : !trust.issuers.some((i) => i.name === task.issuer) || task.subject === null || !ids.includes(task.subject), 'revoked')
      if (revoked > 0) deps.logger.warn('tasks ended: the trust that opened them was withdrawn by the reload', { tasks: revoked })
    },
    async close() {
      await approvals.close()
      await credentials.close()
      await trust.kubernetes?.close()
      tasks.close()
    },
  }
}
