// Generated sequences of operations against a real broker (jwt provider: real ES256 signing,
// no network) with a small LRU bound and an injected clock: parallel obtains over tools, tasks
// and scopes, clock jumps (refresh, expiry), task ends and reloads. After each sequence and a
// shutdown, the invariants must hold:
// - every issuance has exactly one closing record (revoked or expired): nothing leaks, nothing
//   is retired twice, whatever lru-cache evicted, replaced or aborted;
// - no call is served for a task after the task ended, and no credential outlives its task;
// - the cache never holds more than its bound.

import t from 'tap'
import fc from 'fast-check'
import { harness } from './setup.ts'
import type { Task } from '../../proxy/src/tasks/registry.ts'

type Op =
  | { kind: 'obtain'; calls: { tool: number; task: number; scope: number }[] }
  | { kind: 'advance'; s: number }
  | { kind: 'end'; task: number }
  | { kind: 'reload'; ttl: number }
  | { kind: 'race'; calls: { tool: number; task: number; scope: number }[]; task: number; afterTicks: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('obtain' as const), calls: fc.array(fc.record({ tool: fc.integer({ min: 0, max: 3 }), task: fc.integer({ min: -1, max: 2 }), scope: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), s: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('end' as const), task: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reload' as const), ttl: fc.constantFrom(120, 300) }) },
  // A task ends while calls of it are being served (after a few ticks: during signing, or after).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('race' as const), calls: fc.array(fc.record({ tool: fc.integer({ min: 0, max: 3 }), task: fc.integer({ min: 0, max: 2 }), scope: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 8 }), task: fc.integer({ min: 0, max: 2 }), afterTicks: fc.integer({ min: 0, max: 6 }) }) },
)
const SCOPES = [['read'], ['write'], ['read', 'write']]

t.test('lifecycle invariants over generated operation sequences', async (t) => {
  let runs = 0
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
    runs++
    let now = Date.now()
    const providers = (ttl: number) => ({ self: { type: 'jwt' as const, issuer: 'https://toolgate.test', ttl_s: ttl } })
    const h = harness(() => providers(300), { now: () => now, maxEntries: 5 })
    await h.broker.init()
    const tasks: Task[] = []
    for (let i = 0; i < 3; i++) {
      const c = h.tasks.create({ intent: `t${i}`, tools: ['t0', 't1', 't2', 't3'], ttl_s: 3600 })
      if (!c.ok) throw new Error('task')
      tasks.push(c.task)
    }
    const ended = new Set<string>()
    const problems: string[] = []
    for (const o of ops) {
      if (o.kind === 'advance') now += o.s * 1000
      else if (o.kind === 'end') {
        const task = tasks[o.task]!
        if (h.tasks.end(task.id, 'deleted')) ended.add(task.id)
        await h.broker.revokeTask(task.id)
      } else if (o.kind === 'reload') h.broker.update(providers(o.ttl), h.dir)
      else if (o.kind === 'race') {
        const task = tasks[o.task]!
        const calls = o.calls.map((c) => h.obtain(`t${c.tool}`, { provider: 'self', scopes: SCOPES[c.scope]! }, { task: tasks[c.task]! }))
        for (let i = 0; i < o.afterTicks; i++) await new Promise((r) => setImmediate(r))
        if (h.tasks.end(task.id, 'deleted')) ended.add(task.id)
        await Promise.all([h.broker.revokeTask(task.id), ...calls])
      } else {
        const results = await Promise.all(o.calls.map(async (c) => {
          const task = c.task < 0 ? null : tasks[c.task]!
          const endedBefore = task !== null && ended.has(task.id)
          return { task, endedBefore, r: await h.obtain(`t${c.tool}`, { provider: 'self', scopes: SCOPES[c.scope]! }, { task }) }
        }))
        for (const { task, endedBefore, r } of results) {
          if (endedBefore && r.ok) problems.push(`served for ended task ${task!.id}`)
          if (r.ok && task && r.credential.expiresAt > task.expiresAt) problems.push('credential outlives its task')
          if (!r.ok && !endedBefore) problems.push(`unexpected refusal: ${r.reason}`)
        }
      }
      const entries = Number(/toolgate_credential_cache_entries (\d+)/.exec(await h.registry.metrics())?.[1])
      if (entries > 5) problems.push(`cache holds ${entries} > 5`)
    }
    await h.close()
    const issued = h.records.filter((r) => r.type === 'credential_issued').map((r) => r.issuance_id as string)
    const closing = h.records.filter((r) => r.type === 'credential_revoked' || r.type === 'credential_expired').map((r) => r.issuance_id as string)
    const count = new Map<string, number>()
    for (const id of closing) count.set(id, (count.get(id) ?? 0) + 1)
    for (const id of issued) if (count.get(id) !== 1) problems.push(`issuance ${id} closed ${count.get(id) ?? 0} times`)
    for (const id of count.keys()) if (!issued.includes(id)) problems.push(`closing record for unknown issuance ${id}`)
    if (problems.length > 0) throw new Error(problems.slice(0, 5).join('; '))
  }), { numRuns: 60 })
  t.equal(runs >= 60, true, `${runs} sequences`)
})

t.test('a reload that lands while a refresh is under way retires both the old and the refreshed issuance', async (t) => {
  let now = Date.now()
  const providers = (ttl: number) => ({ self: { type: 'jwt' as const, issuer: 'https://toolgate.test', ttl_s: ttl } })
  const h = harness(() => providers(300), { now: () => now })
  await h.broker.init()
  const first = await h.obtain('t0', { provider: 'self' })
  t.ok(first.ok)
  now += 250_000 // past 80% of 300 s: the next call starts a background refresh (async signing)
  t.ok((await h.obtain('t0', { provider: 'self' })).ok)
  h.broker.update(providers(120), h.dir) // the provider changes while the refresh signs
  await new Promise((r) => setTimeout(r, 200)) // the refresh lands (into a cache that dropped its key)
  await h.close()
  const issued = h.records.filter((r) => r.type === 'credential_issued')
  t.equal(issued.length, 2, 'the refresh did issue')
  const closing = h.records.filter((r) => r.type === 'credential_revoked' || r.type === 'credential_expired')
  t.same(closing.map((r) => r.issuance_id).sort(), issued.map((r) => r.issuance_id).sort(), 'each issuance closed exactly once')
  t.ok(closing.every((r) => r.reason === 'config_reload'), 'both by the reload')
})
