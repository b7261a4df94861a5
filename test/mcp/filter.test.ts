// tools/list result filter: JSON bodies and SSE streams. The SSE filter must give the same bytes
// however the stream is chunked (whole, byte by byte, random chunkings), rewrite only tools/list
// results for the awaited ids, and never hold more than one event.
import t from 'tap'
import { Readable, type Transform } from 'node:stream'
import { createToolsListFilter, McpFilterError, type ToolsListFilterOptions } from '../../proxy/src/classify/mcp/filter.ts'

const allowed = (name: string): boolean => name.startsWith('get_') || name === 'echo'
const tools = (...names: string[]): unknown[] => names.map((name) => ({ name, description: `the ${name} tool`, inputSchema: { type: 'object' } }))
const listResult = (id: string | number, ...names: string[]): string => JSON.stringify({ jsonrpc: '2.0', id, result: { tools: tools(...names), nextCursor: 'c2' } })
/** A list result as toolgate rewrites it: fewer tools, and marked private (no cache may share this agent's view). */
const filteredResult = (id: string | number, ...names: string[]): string => JSON.stringify({ jsonrpc: '2.0', id, result: { tools: tools(...names), nextCursor: 'c2', cacheScope: 'private' } })

function filter(o: Partial<ToolsListFilterOptions> & { contentType: string }): Transform {
  return createToolsListFilter({ allowed, requestIds: new Set<string | number>([1]), maxBytes: 64 * 1024, ...o })
}

async function run(f: Transform, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = []
  f.on('data', (c: Buffer) => out.push(c))
  const done = new Promise<void>((resolve, reject) => { f.on('end', resolve); f.on('error', reject) })
  Readable.from(chunks).pipe(f)
  await done
  return Buffer.concat(out)
}

/** Deterministic PRNG (mulberry32) so a failing chunking can be reproduced from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function chunkings(buf: Buffer, seed: number): Buffer[] {
  const r = rng(seed)
  const out: Buffer[] = []
  let i = 0
  while (i < buf.length) {
    const n = 1 + Math.floor(r() * 23)
    out.push(buf.subarray(i, i + n))
    i += n
  }
  return out
}

t.test('JSON: the awaited tools/list result loses disallowed tools, keeps everything else', async (t) => {
  const removed: unknown[] = []
  const out = await run(filter({ contentType: 'application/json; charset=utf-8', onFiltered: (i) => removed.push(i) }), [Buffer.from(listResult(1, 'get_issue', 'delete_repo', 'echo', 'get\u200bx'))])
  const msg = JSON.parse(out.toString())
  t.same(msg.result.tools.map((x: { name: string }) => x.name), ['get_issue', 'echo'])
  t.equal(msg.result.nextCursor, 'c2')
  t.same(msg.result.tools[0], tools('get_issue')[0], 'kept entries are intact')
  t.same(removed, [{ id: 1, removed: ['delete_repo', 'get\u200bx'], kept: 2 }])
})

t.test('JSON: other ids, error responses and bodies with nothing to hide pass byte for byte', async (t) => {
  const other = Buffer.from(listResult(2, 'delete_repo'))
  t.same(await run(filter({ contentType: 'application/json' }), [other]), other)
  const err = Buffer.from('{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}')
  t.same(await run(filter({ contentType: 'application/json' }), [err]), err)
  const fine = Buffer.from(`  ${listResult(1, 'get_a', 'echo')}\n`)
  t.same(await run(filter({ contentType: 'application/json' }), [fine]), fine)
  // Not strict JSON while a tools/list answer is awaited: never passed unread (a lenient client
  // might still read a tools list in it), the response ends with an error instead.
  const notJson = Buffer.from('<html>oops</html>')
  await t.rejects(run(filter({ contentType: 'application/json' }), [notJson]), /not strict JSON/)
  const vtab = Buffer.from(`\v${listResult(1, 'delete_repo')}`)
  await t.rejects(run(filter({ contentType: 'application/json' }), [vtab]), /not strict JSON/, 'a vertical tab before the JSON does not hide it')
  const otherType = Buffer.from(listResult(1, 'delete_repo'))
  // Another content type while a list is awaited is not passed unread either: lenient clients
  // (the Python SDK reads any "application/json..." as JSON) could still read a tools list in it.
  await t.rejects(run(filter({ contentType: 'text/plain' }), [otherType]), /neither application\/json nor text\/event-stream/)
  await t.rejects(run(filter({ contentType: 'application/json-seq' }), [otherType]), /neither application\/json nor text\/event-stream/)
  await t.rejects(run(filter({ contentType: 'application/json', contentEncoding: 'gzip' }), [otherType]), /encoded body cannot be inspected/)
  t.same(await run(filter({ contentType: 'text/plain' }), []), Buffer.alloc(0), 'an empty body of any type passes')
  t.same(await run(filter({ contentType: 'application/json', contentEncoding: 'identity' }), [fine]), fine, 'identity is no encoding')
})

t.test('JSON: batch responses are filtered element by element', async (t) => {
  const body = `[${listResult(7, 'delete_repo', 'get_x')},${JSON.stringify({ jsonrpc: '2.0', id: 8, result: { content: [] } })}]`
  const out = JSON.parse((await run(filter({ contentType: 'application/json', requestIds: new Set([7]) }), [Buffer.from(body)])).toString())
  t.same(out[0].result.tools.map((x: { name: string }) => x.name), ['get_x'])
  t.same(out[1], { jsonrpc: '2.0', id: 8, result: { content: [] } })
})

t.test('JSON: an id a client coerces to an awaited one ("1", "1.0" for 1: the TypeScript SDK matches Number(id)) is filtered too', async (t) => {
  for (const id of ['1', '1.0', ' 1', '01', '1e0']) {
    const out = JSON.parse((await run(filter({ contentType: 'application/json' }), [Buffer.from(listResult(id, 'delete_repo', 'get_a'))])).toString())
    t.same(out.result.tools.map((x: { name: string }) => x.name), ['get_a'], `id ${JSON.stringify(id)}`)
  }
  const other = Buffer.from(listResult('abc', 'delete_repo'))
  t.same(await run(filter({ contentType: 'application/json' }), [other]), other, 'an id no client reads as 1 passes')
})

t.test('SSE: a coerced id does not count as the answer: the exact id is still filtered after it', async (t) => {
  const stream = Buffer.from(`data: ${listResult('1.0', 'delete_repo')}\n\ndata: ${listResult(1, 'delete_repo', 'get_a')}\n\n`)
  const out = (await run(filter({ contentType: 'text/event-stream' }), [stream])).toString()
  t.notMatch(out, /delete_repo/)
})

t.test('JSON: ambiguous or oversized responses end the stream with McpFilterError', async (t) => {
  const dup = Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"delete_repo"}]}}')
  await t.rejects(run(filter({ contentType: 'application/json' }), [dup]), { name: 'McpFilterError' })
  const bad = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x'), Buffer.from([0xff]), Buffer.from('"}]}}')])
  await t.rejects(run(filter({ contentType: 'application/json' }), [bad]), /not valid UTF-8/)
  const big = Buffer.from(listResult(1, ...Array.from({ length: 200 }, (_, i) => `get_${i}`)))
  await t.rejects(run(filter({ contentType: 'application/json', maxBytes: 1000 }), [big]), /exceeds 1000 bytes/)
})

// Multi-line data: split between two JSON tokens (a newline inside a string would not be JSON).
const full = listResult(1, 'get_issue', 'delete_repo')
const split = [full.slice(0, full.indexOf('"result"')), full.slice(full.indexOf('"result"'))]
// A stream with every SSE feature: priming event, comments, event/id/retry fields, CRLF, CR and LF
// line ends, multi-line data, a notification, the awaited result and one for another id.
const sse = [
  ': keep-alive comment\n\n',
  'id: ev-0\ndata:\n\n',
  'event: message\r\nid: ev-1\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\r\n\r\n',
  `event: message\rid: ev-2\rdata: ${listResult(5, 'delete_repo')}\r\r`,
  `event: message\nid: ev-3\ndata: ${split[0]}\ndata: ${split[1]}\nretry: 1000\n\n`,
  'data: {"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"after"}]}}\n\n',
].join('')

const expectedSse = [
  ': keep-alive comment\n\n',
  'id: ev-0\ndata:\n\n',
  'event: message\r\nid: ev-1\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\r\n\r\n',
  `event: message\rid: ev-2\rdata: ${listResult(5, 'delete_repo')}\r\r`,
  `event: message\nid: ev-3\ndata: ${filteredResult(1, 'get_issue')}\nretry: 1000\n\n`,
  'data: {"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"after"}]}}\n\n',
].join('')

t.test('SSE: only the awaited tools/list event is rewritten; all other events pass in order, byte for byte', async (t) => {
  const out = await run(filter({ contentType: 'text/event-stream' }), [Buffer.from(sse)])
  t.equal(out.toString(), expectedSse)
})

t.test('SSE: byte-by-byte and 200 random chunkings give the same output', async (t) => {
  const whole = Buffer.from(sse)
  const bytes = [...whole].map((b) => Buffer.from([b]))
  t.equal((await run(filter({ contentType: 'text/event-stream' }), bytes)).toString(), expectedSse, 'byte by byte')
  let same = 0
  for (let seed = 1; seed <= 200; seed++) {
    const out = await run(filter({ contentType: 'text/event-stream' }), chunkings(whole, seed))
    if (out.toString() === expectedSse) same++
    else t.fail(`chunking seed ${seed} differs`)
  }
  t.equal(same, 200, 'every chunking')
  // The same holds while the filter never goes passthrough ('any' rewrites every tools result).
  // (A rewritten data line always ends in LF; the event's other lines keep their own line ends.)
  const anyExpected = expectedSse.replace(`data: ${listResult(5, 'delete_repo')}\r`, `data: ${JSON.stringify({ jsonrpc: '2.0', id: 5, result: { tools: [], nextCursor: 'c2', cacheScope: 'private' } })}\n`)
  for (let seed = 1000; seed < 1050; seed++) {
    const out = await run(filter({ contentType: 'text/event-stream', requestIds: 'any' }), chunkings(whole, seed))
    t.equal(out.toString(), anyExpected, `any, seed ${seed}`)
  }
})

t.test('SSE: a BOM at the start of the stream does not hide a data field', async (t) => {
  const out = await run(filter({ contentType: 'text/event-stream' }), [Buffer.from(`\ufeffdata: ${listResult(1, 'delete_repo', 'echo')}\n\n`)])
  t.equal(out.toString(), `\ufeffdata: ${filteredResult(1, 'echo')}\n\n`)
})

t.test('SSE: an unterminated last event is still filtered', async (t) => {
  const out = await run(filter({ contentType: 'text/event-stream' }), [Buffer.from(`id: 1\ndata: ${listResult(1, 'delete_repo', 'echo')}`)])
  t.equal(out.toString(), `id: 1\ndata: ${filteredResult(1, 'echo')}\n`)
})

t.test('SSE: events are emitted as they complete, not at the end (large stream, bounded memory)', async (t) => {
  const f = filter({ contentType: 'text/event-stream', requestIds: 'any', maxBytes: 16 * 1024 })
  let received = 0
  f.on('data', (c: Buffer) => { received += c.length })
  const event = Buffer.from(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(8000) } })}\n\n`)
  let written = 0
  let lagging = 0
  let maxHeld = 0
  // 1500 events of 8 KiB = 12 MiB through a filter that may hold at most 16 KiB.
  for (let i = 0; i < 1500; i++) {
    // Split each event across two writes so the splitter really holds partial events.
    f.write(event.subarray(0, 3000))
    f.write(event.subarray(3000))
    written += event.length
    await new Promise((r) => setImmediate(r))
    if (received !== written) lagging++
    maxHeld = Math.max(maxHeld, f.readableLength + f.writableLength)
  }
  f.end()
  await new Promise((r) => f.on('end', r))
  t.equal(lagging, 0, 'every event was out before the next was written')
  t.ok(maxHeld < 64 * 1024, `stream buffers stayed small (max ${maxHeld} bytes)`)
  t.equal(received, written)
})

t.test('SSE: an event larger than maxBytes ends the stream while awaiting, passes once answered', async (t) => {
  const huge = `data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(5000) } })}\n\n`
  await t.rejects(run(filter({ contentType: 'text/event-stream', maxBytes: 1000 }), [Buffer.from(huge)]), /an SSE event exceeds 1000 bytes/)
  const answeredFirst = `data: ${listResult(1, 'echo')}\n\n${huge}`
  const out = await run(filter({ contentType: 'text/event-stream', maxBytes: 1000 }), chunkings(Buffer.from(answeredFirst), 7))
  t.equal(out.toString(), answeredFirst, 'after the awaited id the stream is passed through uninspected')
})

t.test('SSE: duplicate keys in an event while awaiting end the stream', async (t) => {
  await t.rejects(run(filter({ contentType: 'text/event-stream' }), [Buffer.from('data: {"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":[]}}\n\n')]), { name: 'McpFilterError' })
})

// SSE filter evasions. What the agent's client reads is checked with eventsource-parser, the SSE
// parser the official TypeScript SDK client uses, on toolgate's output; "lenient" models a client
// that trims Unicode whitespace before JSON.parse (Python's str.strip() does).
import { createParser } from 'eventsource-parser'

function clientView(out: Buffer): string[] {
  const data: string[] = []
  const p = createParser({ onEvent: (e) => { data.push(e.data) } })
  p.feed(out.toString('utf8'))
  p.reset({ consume: true }) // end of stream: a trailing CR completes its line
  return data
}
const lenientToolNames = (out: Buffer): string[] => clientView(out).flatMap((d) => {
  try {
    const m = JSON.parse(d.replace(/^[\s\u0085]+|[\s\u0085]+$/g, '')) as { result?: { tools?: { name: string }[] } }
    return (m.result?.tools ?? []).map((x) => x.name)
  } catch {
    return []
  }
})
const evSse = { contentType: 'text/event-stream' }

t.test('SSE evasion: whitespace (\\v, \\f, U+0085, U+00A0) before the JSON in a data line', async (t) => {
  for (const ws of ['\v', '\f', '\u0085', '\u00a0']) {
    for (const requestIds of [new Set<string | number>([1]), 'any' as const]) {
      const input = Buffer.from(`data: ${ws}${listResult(1, 'delete_repo', 'get_a')}\n\n`)
      const out = await run(filter({ ...evSse, requestIds }), [input])
      t.notOk(lenientToolNames(out).includes('delete_repo'), `${JSON.stringify(ws)} (${requestIds === 'any' ? 'GET stream' : 'POST'}): the hidden tool never reaches even a lenient client`)
    }
  }
})

t.test('SSE evasion: data split over several data: lines is joined and filtered', async (t) => {
  const json = listResult(1, 'delete_repo', 'get_a')
  const cut = json.indexOf('"result"')
  const input = Buffer.from(`event: message\ndata: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}\n\n`)
  const out = await run(filter(evSse), [input])
  const names = clientView(out).flatMap((d) => (JSON.parse(d) as { result: { tools: { name: string }[] } }).result.tools.map((x) => x.name))
  t.same(names, ['get_a'])
})

t.test('SSE evasion: CR-only line ends', async (t) => {
  // The stream goes on after the event (as a real one does), so the client sees the CR-ended event complete.
  const input = Buffer.from(`id: 5\rdata: ${listResult(1, 'delete_repo', 'get_a')}\r\rdata: {"jsonrpc":"2.0","method":"notifications/message"}\r\r`)
  const out = await run(filter({ ...evSse, requestIds: 'any' }), [input])
  t.same(lenientToolNames(out), ['get_a'])
  t.notOk(out.toString().includes('delete_repo'))
  const ended = await run(filter(evSse), [Buffer.from(`data: ${listResult(1, 'delete_repo', 'get_a')}\r\r`)])
  t.notOk(ended.toString().includes('delete_repo'), 'a stream that ends right after a CR-ended event: still filtered (the held CR completes it)')
  t.match(ended.toString(), /get_a/)
})

t.test('SSE evasion: one undecodable event does not switch filtering off for the rest of the stream', async (t) => {
  for (const requestIds of [new Set<string | number>([1]), 'any' as const]) {
    const bad = Buffer.concat([Buffer.from('data: '), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(' not json\n\n')])
    const garbage = Buffer.from('data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"delete_repo"}\n\n')
    const later = Buffer.from(`data: ${listResult(1, 'delete_repo', 'get_a')}\n\n`)
    const out = await run(filter({ ...evSse, requestIds }), [bad, garbage, later])
    t.same(lenientToolNames(out), ['get_a'], 'the later tools/list result is still filtered')
    t.notOk(out.toString('latin1').includes('delete_repo'), 'the hidden name is nowhere in the output')
  }
})

t.test('SSE: empty priming events (resumable streams) still pass byte for byte', async (t) => {
  const input = Buffer.from('id: 1\ndata:\n\nid: 2\ndata: \n\n')
  t.same(await run(filter({ ...evSse, requestIds: 'any' }), [input]), input)
})
