// listen/h2/request.ts on its own: every h2 header block either becomes one h1-shaped header list
// (Host first, no pseudo-headers, cookies joined) or is refused with a reason; never both, never
// a list that still carries a pseudo-header or a connection-specific field.
import t from 'tap'
import fc from 'fast-check'
import { checkH2Request } from '../../proxy/src/listen/h2/request.ts'

const base = [':method', 'GET', ':scheme', 'https', ':path', '/a', ':authority', 'api.example:443']

t.test('a plain request: Host from :authority, cookies joined', async (t) => {
  const r = checkH2Request([...base, 'cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2'])
  t.same(r, { ok: true, rawHeaders: ['host', 'api.example:443', 'x-y', 'z', 'cookie', 'a=1; b=2'], host: 'api.example:443', grpc: false })
})

t.test('refusals', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[...base, 'host', 'evil.example'], /disagrees with the Host header/],
    [[':method', 'GET', ':scheme', 'https', ':path', 'https://evil/x', ':authority', 'a'], /origin form/],
    [[':method', 'CONNECT', ':authority', 'a:443'], /CONNECT/],
    [[...base, ':protocol', 'websocket'], /after a regular|extended CONNECT/],
    [[':method', 'GET', ':protocol', 'websocket', ':scheme', 'https', ':path', '/', ':authority', 'a'], /extended CONNECT/],
    [[...base, 'connection', 'close'], /connection-specific/],
    [[...base, 'te', 'gzip'], /te header/],
    [[':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'a'], /:scheme/],
    [[':method', 'GET', ':scheme', 'https', ':path', '/'], /without :authority/],
  ]
  for (const [raw, reason] of cases) {
    const r = checkH2Request(raw)
    t.equal(r.ok, false, raw.join(' '))
    if (!r.ok) t.match(r.reason, reason)
  }
  t.same(checkH2Request([...base, 'host', 'API.example']).ok, true, 'default port and case do not make a disagreement')
})

t.test('property: an accepted list never carries a pseudo-header or connection-specific field, and Host agrees with :authority', async (t) => {
  const name = fc.constantFrom(':method', ':path', ':scheme', ':authority', ':protocol', 'host', 'cookie', 'connection', 'te', 'transfer-encoding', 'x-a', 'content-type', 'Upper')
  const value = fc.constantFrom('GET', 'CONNECT', 'OPTIONS', '/', '*', 'https', 'http', 'a.example', 'a.example:443', 'b.example', 'trailers', 'application/grpc', 'x=1')
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 10 }), (pairs) => {
    const r = checkH2Request(pairs.flat())
    if (!r.ok) return true
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0)
    if (names.some((n) => n.startsWith(':') || ['connection', 'transfer-encoding', 'upgrade'].includes(n))) return false
    if (names.filter((n) => n === 'host').length !== 1) return false
    const authority = pairs.find(([n]) => n === ':authority')?.[1]
    return authority === undefined || r.host === authority
  }), { numRuns: 2000 }))
})
