// One call that builds the task registry, credential broker and approval gate from a resolved
// config, plus the admin routes that expose them (tasks, approvals, JWKS). server.ts passes
// `services` to the pipeline and `adminRoutes` to the admin listener, calls applyConfig() on hot
// reload and close() on shutdown.

import type { Registry } from 'prom-client'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ResolvedConfig } from '../config/resolved.ts'
import type { Logger } from '../record/log.ts'
import { TaskRegistry } from '../tasks/registry.ts'
import { CredentialBroker } from './broker.ts'
import { ApprovalGate } from '../admin/api-approvals.ts'
import { handleTasksApi } from '../admin/api-tasks.ts'
import { handleJwks } from '../admin/jwks.ts'

export type AdminRouteFn = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

export interface CredentialServices {
  tasks: TaskRegistry
  credentials: CredentialBroker
  approvals: ApprovalGate
  adminRoutes: AdminRouteFn[]
  applyConfig(config: ResolvedConfig): void
  close(): Promise<void>
}

export async function createCredentialServices(config: ResolvedConfig, deps: { registry: Registry; logger: Logger; records: { write(rec: Record<string, unknown>): void } }): Promise<CredentialServices> {
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
  const approvals = new ApprovalGate({
    timeoutMs: a.timeout_ms,
    maxPending: a.max_pending,
    ...(a.webhook ? { webhook: a.webhook } : {}),
    records: deps.records,
    logger: deps.logger.child({ component: 'approvals' }),
    registry: deps.registry,
  })
  const adminRoutes: AdminRouteFn[] = [
    (req, res, url) => handleTasksApi(req, res, url, { tasks, knownTools: () => toolNames, revokeTask: (id) => credentials.revokeTask(id) }),
    (req, res, url) => approvals.handleApi(req, res, url),
    (req, res, url) => handleJwks(req, res, url, { jwks: () => credentials.jwks() }),
  ]
  return {
    tasks,
    credentials,
    approvals,
    adminRoutes,
    applyConfig(next) {
      // Providers, tool names and the task and approval bounds follow reloads (the approval
      // webhook is restart-only: config/reload.ts).
      credentials.update(next.credentials, next.source.dir)
      const nt = next.tasks
      const na = next.approvals
      tasks.setLimits({ defaultTtlS: Math.min(nt.default_ttl_s, nt.max_ttl_s), maxTtlS: nt.max_ttl_s, maxTasks: nt.max_tasks })
      approvals.setLimits({ timeoutMs: na.timeout_ms, maxPending: na.max_pending })
      toolNames = new Set(next.tools.map((tool) => tool.name))
    },
    async close() {
      await approvals.close()
      await credentials.close()
      tasks.close()
    },
  }
}
