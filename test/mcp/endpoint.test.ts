// The MCP endpoint family (classify/mcp/endpoint.ts) and the evaluation budget (mcp-stage.ts).
// Property-based: any spelling a lenient router sends to the handler is the endpoint or a variant.

import t from 'tap'
import fc from 'fast-check'
import { endpointMethod, endpointRelation, requestHasBody } from '../../proxy/src/classify/mcp/endpoint.ts'
import { normalisePath } from '../../proxy/src/classify/target.ts'
import { decideWithinBudget, type MessageDecision } from '../../proxy/src/pipeline/mcp.ts'
import type { McpMessage } from '../../proxy/src/classify/mcp/parse.ts'

const segment = fc.stringMatching(/^[a-z][a-z0-9_-]{0,7}$/)

t.test('every router-equivalent spelling of the endpoint is the endpoint or a refused variant', async (t) => {
  fc.assert(fc.property(
    fc.array(segment, { minLength: 1, maxLength: 3 }),
    fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
    fc.constantFrom('', '/', ';x', ';jsessionid=1', '/sub', '/a/b', ';p/'),
    fc.boolean(),
    (segs, flips, suffix, encode) => {
      const endpoint = '/' + segs.join('/')
      let i = 0
      let spelled = [...endpoint].map((ch) => (flips[i++ % flips.length] ? ch.toUpperCase() : ch)).join('')
      if (encode) spelled = spelled.replace(/[a-zA-Z]/, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      const normalised = normalisePath(spelled + suffix)
      if (!normalised.ok) return true // refused even earlier, by the path normaliser
      const rel = endpointRelation(normalised.path, endpoint)
      return normalised.path === endpoint ? rel === 'endpoint' : rel === 'variant'
    }), { numRuns: 500 })
})

t.test('paths outside the family stay outside (the tool routes decide them)', async (t) => {
  t.equal(endpointRelation('/mcpx', '/mcp'), 'other')
  t.equal(endpointRelation('/api/mcp', '/mcp'), 'other')
  t.equal(endpointRelation('/', '/mcp'), 'other')
  t.equal(endpointRelation('/anything', '/'), 'variant', 'an endpoint at / owns every path')
  t.equal(endpointRelation('/v1/MCP', '/v1/mcp'), 'variant')
  t.equal(endpointRelation('/v1/mcp', '/v1/mcp'), 'endpoint')
  t.equal(endpointRelation('/mcp\u017f', '/mcps'), 'variant', 'long s folds like Unicode-aware routers fold it')
})

t.test('methods on the endpoint', async (t) => {
  t.same(endpointMethod('POST', true, false), { ok: true, kind: 'messages' })
  t.same(endpointMethod('GET', false, false), { ok: true, kind: 'stream' })
  t.same(endpointMethod('DELETE', false, false), { ok: true, kind: 'end_session' })
  t.match(endpointMethod('GET', true, false), { ok: false, status: 400 })
  t.match(endpointMethod('GET', false, true), { ok: false, status: 400 }, 'an upgrade is never MCP')
  for (const m of ['PUT', 'PATCH', 'HEAD', 'OPTIONS', 'post', 'TRACE']) t.match(endpointMethod(m, false, false), { ok: false, status: 405 }, m)
  t.equal(requestHasBody({}), false)
  t.equal(requestHasBody({ 'content-length': '0' }), false)
  t.equal(requestHasBody({ 'content-length': '5' }), true)
  t.equal(requestHasBody({ 'transfer-encoding': 'chunked' }), true)
})

t.test('the evaluation budget: once spent, the remaining messages are denied unevaluated', async (t) => {
  const messages: McpMessage[] = Array.from({ length: 50 }, (_, i) => ({ kind: 'request', call: { method: 'tools/call', id: i, toolName: 'get_x', arguments: null }, nameParam: 'get_x', metaVersion: null, taskId: null, taskRequested: false }))
  let evaluated = 0
  const mk = (pass: boolean, reasons: string[]): MessageDecision => ({ call: {} as MessageDecision['call'], decision: { pass, allow: pass, reasons } as MessageDecision['decision'] })
  const out = decideWithinBudget(messages, 5, () => {
    evaluated++
    const until = performance.now() + 1 // each evaluation costs 1 ms here
    while (performance.now() < until) { /* spin */ }
    return mk(true, [])
  }, (_m, _i, reason) => mk(false, [reason]))
  t.ok(evaluated >= 1 && evaluated <= 10, `${evaluated} evaluated within a 5 ms budget`)
  t.equal(out.length, 50)
  t.ok(out.slice(evaluated).every((d) => !d.decision.pass && /evaluation budget of 5 ms/.test(d.decision.reasons[0]!)))
})
