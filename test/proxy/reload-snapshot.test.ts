// A call is recorded under the config snapshot it started with: a reload while the call waits on
// its upstream changes what later calls see, never who the record says made the earlier one.
import t from 'tap'
import { once } from 'node:events'
import { startUpstream } from '../helpers/upstream.ts'
import { startTestToolgate, testConfig, testListeners, loopbackTool } from '../helpers/toolgate.ts'
import { viaProxy } from '../helpers/proxy-client.ts'

t.test('records keep the agent of the snapshot the call started with', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const yaml = (team: string): string => `version: 1
${testListeners}
agent: { namespace: agents, service_account: research, labels: { team: ${team} } }
tools:
${loopbackTool('echo', up.port)}`
  const gate = await startTestToolgate(yaml('before'))
  t.teardown(() => gate.close())

  const arrived = once(up.server, 'request')
  const slow = viaProxy(gate.proxyUrl, 'GET', `${up.url}/slow?ms=400`)
  // Reload only once the upstream holds the slow call, so it is surely in flight (an event: a
  // fixed sleep raced a loaded machine).
  await arrived
  await gate.tg.applyConfig(testConfig(yaml('after')))
  const later = await viaProxy(gate.proxyUrl, 'GET', `${up.url}/echo`)
  t.equal((await slow).status, 200)
  t.equal(later.status, 200)

  const agentOf = (path: string) => (gate.records.find((r) => r['path'] === path)?.['agent'] as { labels: Record<string, string> } | undefined)?.labels['team']
  t.equal(agentOf('/slow'), 'before', 'the call in flight during the reload keeps its agent')
  t.equal(agentOf('/echo'), 'after', 'a call after the reload has the new agent')
})
