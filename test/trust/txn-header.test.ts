// The Txn-Token header as classify/ reads it: at most one, a bounded compact JWS, never forwarded
// upstream whatever its spelling (property-based over header lists).

import t from 'tap'
import fc from 'fast-check'
import { parseHeaders, upstreamHeaders } from '../../proxy/src/classify/headers.ts'

const JWS = 'eyJhbGciOiJFUzI1NiJ9.eyJ0eG4iOiIxIn0.c2ln'

t.test('one Txn-Token is read; two, or a malformed one, are refused', async (t) => {
  const one = parseHeaders(['Host', 'a', 'Txn-Token', JWS], 16384)
  t.equal(one.ok && one.headers.txnToken, JWS)
  const two = parseHeaders(['Host', 'a', 'Txn-Token', JWS, 'txn-token', JWS], 16384)
  t.match(two, { ok: false, status: 400, reason: /more than one Txn-Token header/ })
  for (const bad of ['a b', 'x'.repeat(8193), 'abc,def', '']) {
    const r = parseHeaders(['Host', 'a', 'Txn-Token', bad], 65536)
    t.match(r, { ok: false, status: 400, reason: /invalid Txn-Token header/ }, JSON.stringify(bad.slice(0, 10)))
  }
})

t.test('property: no spelling of Txn-Token reaches the upstream', async () => {
  const spelling = fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }).map((caps) => [...'txn-token'].map((c, i) => (caps[i] ? c.toUpperCase() : c)).join(''))
  const other = fc.tuple(fc.constantFrom('Accept', 'X-Trace', 'User-Agent', 'Authorization'), fc.stringMatching(/^[a-z0-9]{0,20}$/))
  fc.assert(fc.property(spelling, fc.array(other, { maxLength: 5 }), fc.nat(5), (name, others, at) => {
    const list = others.flat()
    const pos = Math.min(at, others.length) * 2
    list.splice(pos, 0, name, JWS)
    const parsed = parseHeaders(['Host', 'api.example', ...list], 16384)
    if (!parsed.ok) return false
    return parsed.headers.txnToken === JWS && upstreamHeaders(parsed.headers, 'api.example:443', false).every(([n]) => n.toLowerCase() !== 'txn-token')
  }), { numRuns: 300 })
})
