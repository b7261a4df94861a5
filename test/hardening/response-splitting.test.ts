// Red team (issue 17 readable denials): refusal reasons now travel in the status line's reason
// phrase and the Proxy-Status header, and some reasons quote what the agent sent (a route-prefix
// tool name, a Host, a CONNECT target, a request target inside a tunnel). Property, end to end
// against a real toolgate on loopback: whatever bytes the agent puts there (CR, LF, NUL, obs-text,
// UTF-8 line separators, percent-encoded CRLF, quotes and backslashes), the answer's head is one
// status line and toolgate's own header names only, every line printable ASCII, and Proxy-Status
// a well-formed sf-string. No injected header, no second response.
import t from 'tap'
import fc from 'fast-check'
import { connect } from 'node:net'
import { once } from 'node:events'
import { startTestToolgate, testListeners, type TestToolgate } from '../helpers/toolgate.ts'

let gate: TestToolgate
let port: number

t.before(async () => {
  gate = await startTestToolgate(`version: 1
${testListeners}
tools:
  - name: api
    match: { scheme: http, host: 127.0.0.1, port: 9 }
    routes:
      - { methods: [GET], path: "/ok/**" }
`)
  port = Number(new URL(gate.proxyUrl).port)
})
t.teardown(() => gate?.close())

/** Bytes the agent sends, answer read until toolgate closes or a full response head arrived and it went quiet. */
async function send(bytes: Buffer): Promise<Buffer> {
  // Read until toolgate closes (every answer here is a refusal: Connection: close, or the client's
  // keep-alive ends when we stop), or 3 s; whatever came after the first answer is kept, so a
  // second response would be seen.
  const sock = connect(port, '127.0.0.1')
  sock.on('error', () => {})
  await once(sock, 'connect')
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      chunks.push(c)
      const text = Buffer.concat(chunks).toString('latin1')
      const sep = text.indexOf('\r\n\r\n')
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, sep))
      if (sep !== -1 && len && text.length - sep - 4 >= Number(len[1])) setTimeout(resolve, 50)
    })
    sock.on('close', () => resolve())
  })
  sock.write(bytes)
  await Promise.race([done, new Promise((r) => setTimeout(r, 3000).unref())])
  sock.destroy()
  return Buffer.concat(chunks)
}

const ALLOWED = new Set(['proxy-status', 'x-toolgate-decision-id', 'cache-control', 'content-type', 'content-length', 'connection', 'date', 'keep-alive', 'transfer-encoding'])
// An sf-item: token, then parameters; details an sf-string (printable ASCII, only \" and \\ escaped).
const PROXY_STATUS = /^toolgate; error=[a-z_]+; details="(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"$/

/**
 * Every response in `answer` (an agent that puts a raw blank line in a header has sent two
 * requests and gets two answers) is well-formed: one status line, toolgate's own header names,
 * printable ASCII, a well-formed Proxy-Status, and a body of exactly the declared length of JSON.
 */
function checkHead(answer: Buffer): string | null {
  let rest = answer
  while (rest.length > 0) {
    const text = rest.toString('latin1')
    const sep = text.indexOf('\r\n\r\n')
    if (sep === -1) return `no complete head: ${JSON.stringify(text.slice(0, 200))}`
    const lines = text.slice(0, sep).split('\r\n')
    if (!/^HTTP\/1\.1 \d{3}(?: [\x20-\x7e]*)?$/.test(lines[0]!)) return `bad status line ${JSON.stringify(lines[0])}`
    for (const line of lines.slice(1)) {
      if (!/^[\x20-\x7e]+$/.test(line)) return `non-printable header line ${JSON.stringify(line)}`
      const name = line.slice(0, line.indexOf(':')).toLowerCase()
      if (!ALLOWED.has(name)) return `unexpected header ${JSON.stringify(line)}`
      if (name === 'proxy-status' && !PROXY_STATUS.test(line.slice(line.indexOf(':') + 1).trim())) return `malformed Proxy-Status ${JSON.stringify(line)}`
    }
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, sep))?.[1] ?? -1)
    const body = rest.subarray(sep + 4, sep + 4 + Math.max(len, 0))
    if (len < 0 || body.length !== len) return `body of ${body.length} bytes, content-length ${len}`
    try { JSON.parse(body.toString('utf8')) } catch { return `body is not JSON: ${JSON.stringify(body.toString('latin1').slice(0, 200))}` }
    rest = rest.subarray(sep + 4 + len)
  }
  return null
}

// What an attacker slips in: line breaks raw and encoded, NUL, obs-text, UTF-8 separators, quotes.
const nasty = fc.array(fc.oneof(
  fc.constantFrom('\r\n', '\r', '\n', '\0', '%0d%0a', '%0D%0A', '\u2028', '\u0085', '\xff', '"', '\\', '\\"', 'X-Injected: 1', 'HTTP/1.1 200 OK', ' ', '\t', 'é', '\u202e'),
  fc.string({ maxLength: 6 }),
), { maxLength: 8 }).map((parts) => parts.join(''))

const places: Record<string, (x: string) => string> = {
  'route-prefix tool name': (x) => `GET /t/${x}/ok HTTP/1.1\r\nHost: a\r\n\r\n`,
  'Host on the forward proxy': (x) => `GET http://127.0.0.1:9/ok/a HTTP/1.1\r\nHost: ${x}\r\n\r\n`,
  'absolute target host': (x) => `GET http://${x}:9/ok HTTP/1.1\r\nHost: a\r\n\r\n`,
  'CONNECT target': (x) => `CONNECT ${x}:443 HTTP/1.1\r\nHost: ${x}:443\r\n\r\n`,
  'path': (x) => `GET http://127.0.0.1:9/${x} HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n`,
  'Toolgate-Task': (x) => `GET http://127.0.0.1:9/ok/a HTTP/1.1\r\nHost: 127.0.0.1:9\r\nToolgate-Task: ${x}\r\n\r\n`,
}

for (const [where, build] of Object.entries(places)) {
  t.test(`property: agent bytes in the ${where} never split the answer`, async (t) => {
    await t.resolves(fc.assert(fc.asyncProperty(nasty, fc.boolean(), async (x, utf8) => {
      const answer = await send(Buffer.from(build(x), utf8 ? 'utf8' : 'latin1'))
      const problem = checkHead(answer)
      if (problem !== null) throw new Error(problem)
    }), { numRuns: 40 }), `no answer is split by agent bytes in the ${where}`)
  })
}

t.test('the oracle rejects a split answer (so the property can fail)', async (t) => {
  t.match(checkHead(Buffer.from('HTTP/1.1 404 toolgate: x\r\nX-Injected: 1\r\ncontent-length: 0\r\n\r\n', 'latin1')), /unexpected header/)
  t.match(checkHead(Buffer.from('HTTP/1.1 404 toolgate: \xff\r\ncontent-length: 0\r\n\r\n', 'latin1')), /bad status line/)
  t.match(checkHead(Buffer.from('HTTP/1.1 404 x\r\nproxy-status: toolgate; error=a; details="a"b"\r\n\r\n', 'latin1')), /malformed Proxy-Status/)
  t.match(checkHead(Buffer.from('HTTP/1.1 404 x\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\nX-Injected: 1\r\n\r\n', 'latin1')), /unexpected header/)
  t.equal(checkHead(Buffer.from('HTTP/1.1 404 x\r\ncontent-length: 2\r\n\r\n{}', 'latin1')), null)
})
