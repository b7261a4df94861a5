// Strictness table for parseMcpBody: every case where two JSON / JSON-RPC parsers could read a
// body differently has a defined outcome (refused with a code and status, or a defined reading).
import t from 'tap'
import { parseMcpBody, type McpParse } from '../../proxy/src/classify/mcp/parse.ts'

const CT = 'application/json'
const MAX = 4096
const p = (body: string | Buffer, ct: string | undefined = CT, max = MAX): McpParse => parseMcpBody(typeof body === 'string' ? Buffer.from(body) : body, ct, max)
const pNoType = (body: string): McpParse => parseMcpBody(Buffer.from(body), undefined, MAX)
const call = (name: string, args = '{}', id = '1'): string => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${name},"arguments":${args}}}`

type Refused = { body: string | Buffer; ct?: string; max?: number; status: number; code: number; id?: string | number | null; reason: RegExp }
const refused: Record<string, Refused> = {
  'duplicate top-level key': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}', status: 400, code: -32600, reason: /duplicate key "method"/ },
  'duplicate key in params': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","name":"delete_repo"}}', status: 400, code: -32600, reason: /duplicate key "name"/ },
  'duplicate key deep in arguments': { body: call('"get_issue"', '{"a":{"b":[{"c":1,"c":2}]}}'), status: 400, code: -32600, reason: /duplicate key "c"/ },
  'duplicate key via unicode escape': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","n\\u0061me":"delete_repo"}}', status: 400, code: -32600, reason: /duplicate key "name"/ },
  'float id 1.0': { body: '{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}', status: 400, code: -32600, reason: /id must be a string or an integer, got 1\.0/ },
  'exponent id 1e0': { body: '{"jsonrpc":"2.0","id":1e0,"method":"tools/list"}', status: 400, code: -32600, reason: /got 1e0/ },
  'fractional id': { body: '{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}', status: 400, code: -32600, reason: /id must be/ },
  'unsafe integer id': { body: '{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list"}', status: 400, code: -32600, reason: /cannot be represented exactly/ },
  'boolean id': { body: '{"jsonrpc":"2.0","id":true,"method":"tools/list"}', status: 400, code: -32600, reason: /got boolean/ },
  'object id': { body: '{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}', status: 400, code: -32600, reason: /got object/ },
  'array id': { body: '{"jsonrpc":"2.0","id":[1],"method":"tools/list"}', status: 400, code: -32600, reason: /got array/ },
  'null id on a request': { body: '{"jsonrpc":"2.0","id":null,"method":"tools/list"}', status: 400, code: -32600, id: null, reason: /must not be null/ },
  'jsonrpc 1.0': { body: '{"jsonrpc":"1.0","id":7,"method":"tools/list"}', status: 400, code: -32600, id: 7, reason: /jsonrpc must be "2.0"/ },
  'jsonrpc number': { body: '{"jsonrpc":2.0,"id":7,"method":"tools/list"}', status: 400, code: -32600, id: 7, reason: /jsonrpc must be/ },
  'jsonrpc missing': { body: '{"id":"a","method":"tools/list"}', status: 400, code: -32600, id: 'a', reason: /jsonrpc must be/ },
  'method not a string': { body: '{"jsonrpc":"2.0","id":7,"method":5}', status: 400, code: -32600, id: 7, reason: /method must be a string/ },
  'unknown envelope member': { body: '{"jsonrpc":"2.0","id":7,"method":"tools/list","extra":"tools/call"}', status: 400, code: -32600, id: 7, reason: /unexpected member "extra"/ },
  // Go's encoding/json matches keys case-insensitively and the last match wins (CVE-2026-27896).
  'method and Method (case-folded duplicate)': { body: '{"jsonrpc":"2.0","id":7,"method":"tools/list","Method":"tools/call"}', status: 400, code: -32600, reason: /"method" and "Method" collide under case folding/ },
  'name and Name in params': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","Name":"delete_x"}}', status: 400, code: -32600, reason: /"name" and "Name" collide/ },
  'long s folds to s (paramſ)': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","paramſ":{}}', status: 400, code: -32600, reason: /U\+017F/ },
  'Kelvin sign folds to k, deep in arguments': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","arguments":{"a":[{"\u212aey":1}]}}}', status: 400, code: -32600, reason: /U\+212A.*at \$\.params\.arguments\.a\[0\]/ },
  'collision deep in arguments': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","arguments":{"o":{"repo":"a","REPO":"b"}}}}', status: 400, code: -32600, reason: /collide/ },
  'NUL-suffixed key': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","name\\u0000":"delete_x"}}', status: 400, code: -32600, reason: /NUL, control or invisible format/ },
  'zero-width key': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","na\u200bme":"delete_x"}}', status: 400, code: -32600, reason: /invisible format/ },
  'escaped uppercase key collides too': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_x","\u004eame":"delete_x"}}', status: 400, code: -32600, reason: /collide/ },
  'params array': { body: '{"jsonrpc":"2.0","id":7,"method":"tools/list","params":[]}', status: 400, code: -32602, id: 7, reason: /params must be an object/ },
  'tools/call without params': { body: '{"jsonrpc":"2.0","id":7,"method":"tools/call"}', status: 400, code: -32602, id: 7, reason: /needs params/ },
  'tool name not a string': { body: call('["delete_repo"]'), status: 400, code: -32602, id: 1, reason: /params.name must be a string/ },
  'tool name with control char (escaped)': { body: call('"delete\\u0000_repo"'), status: 400, code: -32602, id: 1, reason: /control or invisible/ },
  'tool name with zero-width space': { body: call('"delete\\u200b_repo"'), status: 400, code: -32602, id: 1, reason: /control or invisible/ },
  'tool name with bidi override': { body: call('"get_\\u202eoper_eteled"'), status: 400, code: -32602, id: 1, reason: /control or invisible/ },
  'tool name with lone surrogate': { body: call('"get\\ud800"'), status: 400, code: -32600, reason: /unpaired surrogate/ },
  'empty tool name': { body: call('""'), status: 400, code: -32602, id: 1, reason: /empty/ },
  'arguments not an object': { body: call('"get_issue"', '[1,2]'), status: 400, code: -32602, id: 1, reason: /arguments must be an object/ },
  'raw control char inside a string': { body: call('"get_issue"', '{"q":"a\u0001b"}'), status: 400, code: -32600, reason: /unescaped control character/ },
  'number overflowing to Infinity': { body: call('"get_issue"', '{"n":1e400}'), status: 400, code: -32600, reason: /out of range/ },
  'unsafe integer in arguments': { body: call('"get_issue"', '{"n":12345678901234567890}'), status: 400, code: -32600, reason: /cannot be represented exactly/ },
  'byte order mark': { body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(call('"get_issue"'))]), status: 400, code: -32600, reason: /byte order mark/ },
  'invalid UTF-8': { body: Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]), status: 400, code: -32700, reason: /not valid UTF-8/ },
  'overlong UTF-8 encoding of "/"': { body: Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"a'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), status: 400, code: -32700, reason: /not valid UTF-8/ },
  'oversized body': { body: call('"get_issue"', `{"q":"${'x'.repeat(5000)}"}`), status: 413, code: -32700, reason: /exceeds 4096 bytes/ },
  'nesting too deep': { body: call('"get_issue"', `{"a":${'['.repeat(100)}${']'.repeat(100)}}`), status: 413, code: -32700, reason: /nesting deeper than 64/ },
  'trailing garbage': { body: call('"get_issue"') + 'x', status: 400, code: -32700, reason: /invalid JSON/ },
  'trailing comma': { body: '{"jsonrpc":"2.0","id":1,"method":"tools/list",}', status: 400, code: -32700, reason: /invalid JSON/ },
  'comments': { body: '{"jsonrpc":"2.0","id":1,/*x*/"method":"tools/list"}', status: 400, code: -32700, reason: /invalid JSON/ },
  'NaN': { body: call('"get_issue"', '{"n":NaN}'), status: 400, code: -32700, reason: /invalid JSON/ },
  'not JSON': { body: 'hello', status: 400, code: -32700, reason: /invalid JSON/ },
  'top-level string': { body: '"tools/call"', status: 400, code: -32600, reason: /must be an object/ },
  'empty batch': { body: '[]', status: 400, code: -32600, reason: /empty batch/ },
  'batch with a bad element': { body: `[${call('"get_issue"')},{"jsonrpc":"2.0","id":2.0,"method":"tools/list"}]`, status: 400, code: -32600, reason: /batch element 1: id must be/ },
  'batch element not an object': { body: `[${call('"get_issue"')},5]`, status: 400, code: -32600, reason: /batch element 1: a JSON-RPC message must be an object/ },
  'wrong content type': { body: call('"get_issue"'), ct: 'text/plain', status: 415, code: -32700, reason: /content type must be application\/json/ },
  'latin-1 charset': { body: call('"get_issue"'), ct: 'application/json; charset=iso-8859-1', status: 415, code: -32700, reason: /content type/ },
  'response with both result and error': { body: '{"jsonrpc":"2.0","id":3,"result":{},"error":{"code":1,"message":"x"}}', status: 400, code: -32600, id: 3, reason: /exactly one of result and error/ },
  'response without id': { body: '{"jsonrpc":"2.0","result":{}}', status: 400, code: -32600, reason: /needs an id/ },
  'result with null id': { body: '{"jsonrpc":"2.0","id":null,"result":{}}', status: 400, code: -32600, reason: /non-null id/ },
  'request carrying result': { body: '{"jsonrpc":"2.0","id":3,"method":"ping","result":{}}', status: 400, code: -32600, id: 3, reason: /cannot carry result/ },
}

for (const [name, c] of Object.entries(refused)) {
  t.test(`refused: ${name}`, async (t) => {
    const r = p(c.body, 'ct' in c ? c.ct : CT, c.max ?? MAX)
    if (r.ok) return t.fail(`accepted: ${JSON.stringify(r)}`)
    t.equal(r.status, c.status, 'status')
    t.equal(r.code, c.code, 'JSON-RPC code')
    t.match(r.reason, c.reason, 'reason')
    if ('id' in c) t.equal(r.id, c.id, 'id of the refused message')
  })
}

t.test('refused: missing content type', async (t) => {
  const r = pNoType(call('"get_issue"'))
  t.ok(!r.ok && r.status === 415 && /got none/.test(r.reason))
})

t.test('accepted: tools/call with name, arguments and integer id', async (t) => {
  const r = p(call('"get_issue"', '{"repo":"a/b","n":42,"nested":{"x":[1,2.5,"y"]}}', '17'))
  t.same(r, { ok: true, batch: false, messages: [{ kind: 'request', call: { method: 'tools/call', id: 17, toolName: 'get_issue', arguments: { repo: 'a/b', n: 42, nested: { x: [1, 2.5, 'y'] } } }, nameParam: 'get_issue', metaVersion: null, taskId: null, taskRequested: false }] })
})

t.test('names are compared after JSON decoding: "\\u0064elete_repo" is delete_repo', async (t) => {
  const r = p(call('"\\u0064elete_repo"', '{}', '"abc"'))
  if (!r.ok) return t.fail(r.reason)
  t.equal(r.messages[0]!.call.toolName, 'delete_repo')
  t.equal(r.messages[0]!.call.id, 'abc')
  // A surrogate pair escape is a real character, not a lone surrogate: accepted and decoded.
  const emoji = p(call('"tool_\\ud83d\\ude00"'))
  t.ok(emoji.ok && emoji.messages[0]!.call.toolName === 'tool_\u{1F600}')
})

t.test('accepted: notification, string id, response, error response with null id, params absent', async (t) => {
  t.same(p('{"jsonrpc":"2.0","method":"notifications/initialized"}'), { ok: true, batch: false, messages: [{ kind: 'notification', call: { method: 'notifications/initialized', id: null, toolName: null, arguments: null }, nameParam: null, metaVersion: null, taskId: null, taskRequested: false }] })
  t.same(p('{"jsonrpc":"2.0","id":"x-1","method":"tools/list"}'), { ok: true, batch: false, messages: [{ kind: 'request', call: { method: 'tools/list', id: 'x-1', toolName: null, arguments: null }, nameParam: null, metaVersion: null, taskId: null, taskRequested: false }] })
  t.same(p('{"jsonrpc":"2.0","id":5,"result":{"content":[]}}'), { ok: true, batch: false, messages: [{ kind: 'response', call: { method: '', id: 5, toolName: null, arguments: null }, nameParam: null, metaVersion: null, taskId: null, taskRequested: false }] })
  t.same(p('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}'), { ok: true, batch: false, messages: [{ kind: 'response', call: { method: '', id: null, toolName: null, arguments: null }, nameParam: null, metaVersion: null, taskId: null, taskRequested: false }] })
  t.same(p(call('"x"', '{}', '-3')), { ok: true, batch: false, messages: [{ kind: 'request', call: { method: 'tools/call', id: -3, toolName: 'x', arguments: {} }, nameParam: 'x', metaVersion: null, taskId: null, taskRequested: false }] })
  const noArgs = p('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping_tool"}}')
  t.ok(noArgs.ok && noArgs.messages[0]!.call.arguments === null, 'absent arguments read as null')
  t.ok(p(call('"x"'), 'Application/JSON; charset="UTF-8"').ok, 'content type is case-insensitive, utf-8 charset accepted')
})

t.test('batches return every element, in order', async (t) => {
  const r = p(`[${call('"get_issue"', '{}', '1')},{"jsonrpc":"2.0","method":"notifications/progress","params":{}},${call('"delete_repo"', '{"r":1}', '"two"')},{"jsonrpc":"2.0","id":9,"result":{}}]`)
  if (!r.ok) return t.fail(r.reason)
  t.equal(r.batch, true)
  t.same(r.messages.map((m) => [m.kind, m.call.method, m.call.id, m.call.toolName]), [
    ['request', 'tools/call', 1, 'get_issue'],
    ['notification', 'notifications/progress', null, null],
    ['request', 'tools/call', 'two', 'delete_repo'],
    ['response', '', 9, null],
  ])
})

t.test('a "__proto__" argument key is plain data, not a prototype', async (t) => {
  const r = p(call('"x"', '{"__proto__":{"admin":true}}'))
  if (!r.ok) return t.fail(r.reason)
  const args = r.messages[0]!.call.arguments as Record<string, unknown>
  t.equal(Object.getPrototypeOf(args), Object.prototype)
  t.equal((args as { admin?: unknown }).admin, undefined)
  t.same(Object.keys(args), ['__proto__'])
})

t.test('body exactly at the limit is accepted, one byte over refused', async (t) => {
  const body = call('"get_issue"')
  t.ok(p(body, CT, Buffer.byteLength(body)).ok)
  const over = p(body, CT, Buffer.byteLength(body) - 1)
  t.ok(!over.ok && over.status === 413)
})
