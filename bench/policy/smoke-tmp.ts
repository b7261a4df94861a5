import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
const e = await PolicyEngine.start({ source: { kind: 'embedded' }, entrypoint: 'toolgate/decision', registry: new Registry(), logger: silentLogger })
const base = {
  version: 1,
  agent: { namespace: 'agents', service_account: 'research', pod: 'p', spiffe_id: null, labels: {} },
  task: null,
  tool: { name: 'github', access: 'read', data_classification: 'internal', labels: {}, route: null, captures: {} },
  request: { method: 'GET', scheme: 'https', host: 'api.github.com', port: 443, path: '/', query: {}, headers: {} },
  mcp: null,
  time: { now: new Date().toISOString(), now_ns: Date.now() * 1e6 },
}
for (let round = 0; round < 3; round++) {
const t0 = process.hrtime.bigint(); for (let i = 0; i < 20000; i++) e.evaluate(base as any); console.log('us/eval', Number(process.hrtime.bigint() - t0) / 1e3 / 20000)
}
const t1 = process.hrtime.bigint(); for (let i = 0; i < 20000; i++) JSON.stringify(base); console.log('us/stringify', Number(process.hrtime.bigint() - t1) / 1e3 / 20000)
await e.close()
