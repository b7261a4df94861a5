// Denials people can read: what a real toolgate answers a refused CONNECT and a refused request,
// and what real clients (curl, Python requests and httpx) show of it (Go's net/http and the
// rest are in the client matrix). Plus the
// writer's own guarantees, property-tested: whatever a reason contains, the status line and
// headers stay one printable-ASCII line each, bounded, and the body keeps the reason whole.

import t from 'tap'
import fc from 'fast-check'
import { execFile } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { startTestToolgate, loopbackTool, testListeners } from '../helpers/toolgate.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { rawRequest } from '../helpers/raw.ts'
import { MAX_REASON_PHRASE_BYTES, writeSocketError, type ErrorBody } from '../../proxy/src/pipeline/error-body.ts'

const run = promisify(execFile)
const SECRET = 'agent-proxy-secret-91c3'
const up = await startUpstream()
t.teardown(() => up.close())
const gate = await startTestToolgate(`version: 1
${testListeners}tools:
${loopbackTool('echo', up.port)}`)
t.teardown(() => gate.close())
const proxyPort = Number(new URL(gate.proxyUrl).port)
const DENIED = 'toolgate: no tool in the allowlist matches api.example.test:443'

/** Splits a raw HTTP/1.1 answer into its status line, header map and body. */
function parse(raw: string): { statusLine: string; headers: Map<string, string>; lines: string[]; body: string } {
  const sep = raw.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = raw.slice(0, sep).split('\r\n')
  return { statusLine: statusLine!, lines, headers: new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])), body: raw.slice(sep + 4) }
}

t.test('a refused CONNECT: reason phrase, Proxy-Status, decision id header and an SDK-shaped body', async (t) => {
  const res = await rawRequest(proxyPort, `CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\nProxy-Authorization: Basic ${SECRET}\r\n\r\n`)
  const { statusLine, headers, body } = parse(res.raw)
  t.match(statusLine, new RegExp(`^HTTP/1\\.1 403 ${DENIED.replace(/[.]/g, '\\.')}`))
  t.ok(Buffer.byteLength(statusLine) <= 'HTTP/1.1 403 '.length + MAX_REASON_PHRASE_BYTES, 'the reason phrase is bounded')
  const e = (JSON.parse(body) as ErrorBody).error
  t.same([e.code, e.type], ['denied', 'permission_error'])
  t.equal(headers.get('x-toolgate-decision-id'), e.decision_id)
  t.match(headers.get('proxy-status'), new RegExp(`^toolgate; error=http_request_denied; details="no tool in the allowlist matches api\\.example\\.test:443 .*\\(decision ${e.decision_id}\\)"$`))
  const rec = gate.records.find((r) => r['id'] === e.decision_id)
  t.match(rec, { decision: 'deny', method: 'CONNECT', status: 403 }, 'the id finds the record')
  t.notMatch(res.raw, SECRET, 'nothing the agent sent comes back')
})

t.test('a refused request through the forward proxy carries the same headers', async (t) => {
  const res = await rawRequest(proxyPort, `DELETE http://127.0.0.1:${up.port}/thing HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\nConnection: close\r\n\r\n`)
  const { statusLine, headers, body } = parse(res.raw)
  t.match(statusLine, /^HTTP\/1\.1 403 toolgate: no route of tool echo allows DELETE \/thing; route 0 \(\/\*\*\) matches .*\.\.\.$/, 'a long reason is cut, with a marker')
  const e = (JSON.parse(body) as ErrorBody).error
  t.match(e, { code: 'denied', type: 'permission_error', message: /^toolgate: no route of tool echo allows DELETE \/thing.* \(decision [0-9a-f-]{36}\)$/ })
  t.equal(headers.get('x-toolgate-decision-id'), e.decision_id)
  t.match(headers.get('proxy-status'), /^toolgate; error=http_request_denied; details="no route of tool echo allows DELETE \/thing/)
})

t.test('curl -v shows the reason phrase of a refused CONNECT', async (t) => {
  const r = await run('curl', ['-sS', '-v', '-x', gate.proxyUrl, 'https://api.example.test/'], { env: { PATH: process.env['PATH'] ?? '' } }).then(() => null, (e: { stderr: string }) => e.stderr)
  t.ok(r !== null, 'curl fails')
  t.match(r, /CONNECT tunnel failed, response 403/)
  t.match(r, new RegExp(`< HTTP/1\\.1 403 ${DENIED.replace(/[.]/g, '\\.')}`), 'the status line, with the reason, is in the verbose output')
})

t.test('Python requests and httpx name the reason in their ProxyError', async (t) => {
  const script = `import json, requests, httpx
out = {}
try:
    requests.get("https://api.example.test/", proxies={"https": "${gate.proxyUrl}"}, timeout=10)
except requests.exceptions.ProxyError as e:
    out["requests"] = str(e)
try:
    httpx.get("https://api.example.test/", proxy="${gate.proxyUrl}", timeout=10)
except httpx.ProxyError as e:
    out["httpx"] = str(e)
r = requests.delete("http://127.0.0.1:${up.port}/thing", proxies={"http": "${gate.proxyUrl}"}, timeout=10)
try:
    r.raise_for_status()
except requests.HTTPError as e:
    out["raise_for_status"] = str(e)
print(json.dumps(out))`
  const { stdout } = await run('python3', ['-c', script], { env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/' } })
  const out = JSON.parse(stdout) as Record<string, string>
  t.match(out['requests'], `Tunnel connection failed: 403 ${DENIED}`)
  t.match(out['httpx'], `403 ${DENIED}`)
  t.match(out['raise_for_status'], /^403 Client Error: toolgate: no route of tool echo allows DELETE \/thing.* for url: /)
})

t.test('property: any reason keeps the status line and headers single printable lines, bounded; the body keeps it whole', async (t) => {
  const names = ['proxy-status', 'x-toolgate-decision-id', 'cache-control', 'content-type', 'content-length', 'connection']
  const result = await fc.check(fc.asyncProperty(
    fc.oneof(fc.string({ unit: 'binary' }), fc.string().map((s) => `${s}\r\nSet-Cookie: x=1\r\n\r\n${s}`), fc.constantFrom('"quoted" \\ back', '\u0000\u007f\u00ff\u2028')),
    fc.option(fc.string({ unit: 'binary', maxLength: 80 }), { nil: undefined }),
    async (reason, decisionId) => {
      const sink = new PassThrough()
      const chunks: Buffer[] = []
      sink.on('data', (c: Buffer) => chunks.push(c))
      writeSocketError(sink, 403, { code: 'denied', reason, decisionId: decisionId ?? null })
      const raw = Buffer.concat(chunks).toString('latin1')
      const { statusLine, lines, body } = parse(raw)
      if (!/^HTTP\/1\.1 403 toolgate(: [\x20-\x7e]+)?$/.test(statusLine)) throw new Error(`status line ${JSON.stringify(statusLine)}`)
      if (Buffer.byteLength(statusLine) > 'HTTP/1.1 403 '.length + MAX_REASON_PHRASE_BYTES) throw new Error('reason phrase too long')
      for (const line of lines) {
        if (!/^[a-z-]+: [\x20-\x7e]*$/.test(line)) throw new Error(`header line ${JSON.stringify(line)}`)
        if (!names.includes(line.slice(0, line.indexOf(':')))) throw new Error(`unexpected header ${line}`)
      }
      const e = (JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as ErrorBody).error
      if (!e.message.startsWith(`toolgate: ${reason}`)) throw new Error('the body lost the reason')
    },
  ), { numRuns: 300 })
  t.notOk(result.failed, result.failed ? `counterexample ${JSON.stringify(result.counterexample)}: ${String(result.errorInstance)}` : 'held for 300 runs')
  t.equal(result.numRuns, 300)
})
