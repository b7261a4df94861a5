// Upstream pools (issue 14, attack 7): bounded in number, closed when idle, and sharing one TLS
// context per trust configuration instead of one per pool. Real undici pools; no connections
// are needed for these properties.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { UpstreamPools, type ToolUpstream } from '../../proxy/src/forward/pools.ts'
import { destinationRules } from '../../proxy/src/decide/destination.ts'

const settings = { connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000, keepAliveMs: 1000, connectionsPerOrigin: 4, maxResponseHeaderBytes: 65536, extraCaFiles: [] }
const tool: ToolUpstream = { name: 'wild', rules: destinationRules('*.wild.example'), caFile: null }

t.test('at most maxPools pools; the least recently used one is closed', async (t) => {
  const pools = new UpstreamPools({ ...settings, maxPools: 8 })
  const first = pools.get(tool, 'https://h0.wild.example:443')
  for (let i = 1; i < 100; i++) pools.get(tool, `https://h${i}.wild.example:443`)
  t.equal(pools.size, 8)
  await sleep(10)
  t.ok(first.closed || first.destroyed, 'the evicted pool was closed')
  await pools.destroy()
})

t.test('one TLS context per trust configuration', async (t) => {
  const pools = new UpstreamPools({ ...settings, maxPools: 8 })
  const other: ToolUpstream = { ...tool, name: 'other' }
  t.equal(pools.secureContextFor(tool), pools.secureContextFor(other), 'tools with the same trust share one context')
  await pools.destroy()
})

t.test('idle pools are closed after poolIdleMs', async (t) => {
  const pools = new UpstreamPools({ ...settings, maxPools: 8, poolIdleMs: 300 })
  const p = pools.get(tool, 'https://a.wild.example:443')
  t.equal(pools.size, 1)
  await sleep(1600)
  t.equal(pools.size, 0, 'swept without any new request')
  t.ok(p.closed || p.destroyed)
  await pools.destroy()
})
