// Micro-benchmark of the credential broker's hot path: a cached obtain() (static provider, one
// key, with and without a task) in a tight loop. Not a test and not part of the suite: run it by
// hand when the broker changes, e.g.
//   node_modules/.bin/node bench/credential/obtain.ts [iterations]
// and compare against the previous commit (git stash / worktree). Prints CPU ns per obtain.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { CredentialBroker } from '../../proxy/src/credential/broker.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import { TaskRegistry, type Task } from '../../proxy/src/tasks/registry.ts'

const iterations = Number(process.argv[2] ?? 200_000)
const dir = mkdtempSync(join(tmpdir(), 'toolgate-bench-cred-'))
writeFileSync(join(dir, 'key'), 'bench-secret-value', { mode: 0o600 })
const registry = new Registry()
const tasks = new TaskRegistry({ defaultTtlS: 3600, maxTtlS: 3600, maxTasks: 10, registry })
const broker = new CredentialBroker({
  providers: { st: { type: 'static', secret_file: 'key' } },
  configDir: dir,
  registry,
  logger: createLogger({ level: 'error', write: () => {} }),
  records: { write: () => {} },
  tasks,
})
const agent = { namespace: 'bench', service_account: 'bench', pod: 'bench-0', spiffe_id: null, labels: {} }
const created = tasks.create({ intent: 'bench', tools: ['api'] })
if (!created.ok) throw new Error('task')
const task = created.task

async function run(label: string, task: Task | null): Promise<void> {
  const req = { decisionId: 'd', task, tool: 'api', toolCredential: { provider: 'st', scopes: ['read'] }, narrowing: null, agent }
  const warm = await broker.obtain(req)
  if (!warm.ok) throw new Error(warm.reason)
  for (let i = 0; i < 20_000; i++) await broker.obtain(req)
  // CPU time (user + system) of this process, not wall time: the numbers stay comparable on a
  // machine other work shares.
  const rounds: number[] = []
  for (let r = 0; r < 5; r++) {
    const start = process.cpuUsage()
    for (let i = 0; i < iterations; i++) await broker.obtain(req)
    const used = process.cpuUsage(start)
    rounds.push(((used.user + used.system) * 1000) / iterations)
  }
  rounds.sort((a, b) => a - b)
  console.log(`${label}: median ${rounds[2]!.toFixed(0)} ns CPU/obtain (min ${rounds[0]!.toFixed(0)}, max ${rounds[4]!.toFixed(0)}; 5 rounds of ${iterations})`)
}

await run('cached obtain, no task', null)
await run('cached obtain, in a task', task)
await broker.close()
tasks.close()
