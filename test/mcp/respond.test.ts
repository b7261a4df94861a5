// Denial shapes: tools/call → CallToolResult with isError (HTTP 200); other methods → JSON-RPC
// error -32001; notifications → 403; malformed bodies → 400/413/415 with the standard codes.
import t from 'tap'
import { jsonRpcDenial, jsonRpcBatchDenial, jsonRpcRefusal, DENIED_CODE } from '../../proxy/src/classify/mcp/respond.ts'
import { parseMcpBody } from '../../proxy/src/classify/mcp/parse.ts'

t.test('a denied tools/call is a tool error result with the same id', async (t) => {
  const r = jsonRpcDenial('req-7', 'MCP tool "delete_repo" matches deny_tools "delete_*"', 'dec-1', 'tools/call')
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'application/json')
  t.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)))
  const msg = JSON.parse(r.body)
  t.same(msg.id, 'req-7')
  t.equal(msg.jsonrpc, '2.0')
  t.equal(msg.result.isError, true)
  t.match(msg.result.content[0].text, /denied by toolgate: MCP tool "delete_repo".*decision dec-1/)
  t.equal(msg.result._meta['toolgate/decision_id'], 'dec-1')
  t.notOk('error' in msg)
})

t.test('other denied requests get a JSON-RPC error object; integer ids stay integers', async (t) => {
  const msg = JSON.parse(jsonRpcDenial(3, 'no', 'dec-2', 'resources/read').body)
  t.same(msg, { jsonrpc: '2.0', id: 3, error: { code: DENIED_CODE, message: 'denied by toolgate: no (decision dec-2)', data: { decision_id: 'dec-2' } } })
  const plain = JSON.parse(jsonRpcDenial(4, 'no', 'dec-2').body)
  t.equal(plain.error.code, -32001)
})

t.test('a denied notification has no JSON-RPC answer: HTTP 403', async (t) => {
  const r = jsonRpcDenial(null, 'no', 'dec-3', 'notifications/initialized')
  t.equal(r.status, 403)
  t.equal(JSON.parse(r.body).id, null)
})

t.test('batch denial answers every element with an id, in order', async (t) => {
  const r = jsonRpcBatchDenial([
    { id: 1, method: 'tools/call', message: 'denied' },
    { id: null, method: 'notifications/progress', message: 'batch refused' },
    { id: 'b', method: 'tools/list', message: 'batch refused' },
  ], 'dec-4')
  t.equal(r.status, 200)
  const msgs = JSON.parse(r.body)
  t.equal(msgs.length, 2)
  t.same(msgs.map((m: { id: unknown }) => m.id), [1, 'b'])
  t.equal(msgs[0].result.isError, true)
  t.equal(msgs[1].error.code, DENIED_CODE)
  t.equal(jsonRpcBatchDenial([{ id: null, message: 'x' }], 'dec-5').status, 403)
})

t.test('refusals carry the parse status and code', async (t) => {
  const bad = parseMcpBody(Buffer.from('{"jsonrpc":"1.0","id":"q","method":"tools/list"}'), 'application/json', 100)
  if (bad.ok) return t.fail('accepted')
  const r = jsonRpcRefusal(bad, 'dec-6')
  t.equal(r.status, 400)
  t.same(JSON.parse(r.body), { jsonrpc: '2.0', id: 'q', error: { code: -32600, message: 'refused by toolgate: jsonrpc must be "2.0"', data: { decision_id: 'dec-6' } } })
  const big = parseMcpBody(Buffer.alloc(200, 0x20), 'application/json', 100)
  if (big.ok) return t.fail('accepted')
  t.equal(jsonRpcRefusal(big, 'dec-7').status, 413)
})
