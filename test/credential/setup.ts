// Builds a CredentialBroker with an in-memory record sink, a capturing logger and its own
// Prometheus registry, so tests can inspect (and grep) everything it wrote.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import type { CredentialProvider, ToolCredential } from '../../proxy/src/config/schema.gen.ts'
import { CredentialBroker, type BrokerOptions, type ObtainRequest } from '../../proxy/src/credential/broker.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import { TaskRegistry } from '../../proxy/src/tasks/registry.ts'
import type { PolicyInput } from '../../proxy/src/decide/policy-input.ts'

export const agent: PolicyInput['agent'] = { namespace: 'agents', service_account: 'researcher', pod: 'researcher-0', spiffe_id: null, labels: {} }

export interface Harness {
  broker: CredentialBroker
  tasks: TaskRegistry
  registry: Registry
  records: Record<string, unknown>[]
  logs: string[]
  dir: string
  file(name: string, content: string): string
  obtain(tool: string, tc: ToolCredential, extra?: Partial<ObtainRequest>): ReturnType<CredentialBroker['obtain']>
  close(): Promise<void>
}

let seq = 0

export function harness(providers: (dir: string) => Record<string, CredentialProvider>, opts: Partial<BrokerOptions> = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-cred-'))
  const records: Record<string, unknown>[] = []
  const logs: string[] = []
  const registry = new Registry()
  const tasks = new TaskRegistry({ defaultTtlS: 600, maxTtlS: 3600, maxTasks: 100, registry })
  const file = (name: string, content: string): string => {
    const p = join(dir, name)
    writeFileSync(p, content, { mode: 0o600 })
    return p
  }
  let broker: CredentialBroker | null = null
  const get = (): CredentialBroker => {
    broker ??= new CredentialBroker({
      providers: providers(dir),
      configDir: dir,
      registry,
      logger: createLogger({ level: 'debug', write: (l) => { logs.push(l) } }),
      records: { write: (r) => { records.push(JSON.parse(JSON.stringify(r)) as Record<string, unknown>) } },
      tasks,
      ...opts,
    })
    return broker
  }
  return {
    get broker() { return get() },
    tasks,
    registry,
    records,
    logs,
    dir,
    file,
    obtain: (tool, tc, extra = {}) => get().obtain({ decisionId: `dec-${++seq}`, task: null, tool, toolCredential: tc, narrowing: null, agent, ...extra }),
    async close() {
      await broker?.close()
      tasks.close()
    },
  }
}
