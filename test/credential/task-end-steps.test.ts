// Task-end steps (MCP tasks/cancel) run before a task's credentials are revoked, bounded: a step
// that never settles or throws holds revocation back at most the step timeout, and never fails it.
import t from 'tap'
import { Registry } from 'prom-client'
import { CredentialLifecycle } from '../../proxy/src/credential/lifecycle.ts'
import { CredentialMetrics } from '../../proxy/src/credential/credential-metrics.ts'
import { createLogger } from '../../proxy/src/record/log.ts'

function lifecycle(timeoutMs: number): { lc: CredentialLifecycle; logs: string[] } {
  const logs: string[] = []
  const lc = new CredentialLifecycle({ records: { write: () => {} }, metrics: new CredentialMetrics(new Registry(), () => 0), logger: createLogger({ level: 'debug', write: (l) => { logs.push(l) } }), now: Date.now, taskEndStepTimeoutMs: timeoutMs })
  return { lc, logs }
}

t.test('a step that never settles holds back revocation only until the timeout', async (t) => {
  const { lc, logs } = lifecycle(150)
  lc.addTaskEndStep(() => new Promise(() => {}))
  const started = Date.now()
  await lc.beforeRevoke('tsk_1')
  const took = Date.now() - started
  t.ok(took >= 140 && took < 1000, `released after the timeout (${took} ms)`)
  t.match(logs.join('\n'), /task end steps timed out; revoking anyway/)
})

t.test('a failing step does not fail revocation; concurrent callers share one run', async (t) => {
  const { lc } = lifecycle(1000)
  let runs = 0
  lc.addTaskEndStep(async () => { runs++; throw new Error('boom') })
  await Promise.all([lc.beforeRevoke('tsk_2'), lc.beforeRevoke('tsk_2')])
  t.equal(runs, 1)
})

t.test('no steps: nothing to wait for', async (t) => {
  const { lc } = lifecycle(1000)
  await t.resolves(lc.beforeRevoke('tsk_3'), 'resolves with no steps')
})
