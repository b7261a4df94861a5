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

t.test('TLS contexts are shared across pool sets (reloads), not built per set', async (t) => {
  const a = new UpstreamPools({ ...settings, maxPools: 8 })
  const b = new UpstreamPools({ ...settings, maxPools: 8 })
  t.equal(a.secureContextFor(tool), b.secureContextFor(tool), 'a reload\'s new pool set reuses the context of the same CA list')
  await a.destroy()
  await b.destroy()
})

t.test('a closed (superseded) pool set closes the pool it creates for a late call once the call is done', async (t) => {
  const { startUpstream } = await import('../helpers/upstream.ts')
  const up = await startUpstream()
  t.teardown(() => up.close())
  const local: ToolUpstream = { name: 'local', rules: destinationRules('127.0.0.1', ['127.0.0.1/32']), caFile: null }
  const pools = new UpstreamPools({ ...settings, maxPools: 8 })
  await pools.close()
  const late = pools.get(local, `http://127.0.0.1:${up.port}`)
  const res = await late.request({ path: '/echo', method: 'GET' })
  t.equal(res.statusCode, 200, 'the late call is served')
  await res.body.text()
  t.equal(pools.size, 0, 'the closed set keeps no pool')
  t.ok(late.closed, 'the late pool is closed, so nothing outlives the call')
})
