// Override hints (issue 14, attack 6), unit level: removing `_method` (in any spelling a lenient
// framework decodes to it) leaves every other query parameter byte for byte and in order; header
// hints go whatever their case; the configured lists replace the defaults.
import t from 'tap'
import fc from 'fast-check'
import { DEFAULT_HINTS, overrideHints, withoutOverrideHeaders, withoutOverrideParams } from '../../proxy/src/forward/override-hints.ts'

const pair = fc.tuple(fc.stringMatching(/^[a-z0-9.~-]{1,6}$/), fc.stringMatching(/^[A-Za-z0-9%._~-]{0,6}$/)).map(([k, v]) => `${k}=${v}`)
const hint = fc.constantFrom('_method=DELETE', '_METHOD=put', '%5Fmethod=DELETE', '%255Fmethod=x', '_method', '_me%74hod=PATCH', '+_method=x')

t.test('property: only the hints go; everything else keeps its bytes and order', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(pair, { maxLength: 6 }), fc.array(fc.tuple(fc.nat(6), hint), { maxLength: 3 }), fc.constantFrom('&', ';'), (pairs, hints, sep) => {
    const withHints = [...pairs]
    for (const [at, h] of hints) withHints.splice(at % (withHints.length + 1), 0, h)
    const out = withoutOverrideParams(withHints.join(sep), DEFAULT_HINTS)
    return out === pairs.join(sep)
  }), { numRuns: 1000 }), 'fast-check found no counterexample in 1000 runs')
})

t.test('headers, case-insensitively; configured lists replace the defaults', async (t) => {
  const headers: [string, string][] = [['Host', 'x'], ['X-HTTP-Method-Override', 'DELETE'], ['x-original-url', '/admin'], ['Accept', '*/*']]
  t.same(withoutOverrideHeaders(headers, DEFAULT_HINTS), [['Host', 'x'], ['Accept', '*/*']])
  const custom = overrideHints({ headers: ['X-My-Override'], query_params: ['verb'] })
  t.same(withoutOverrideHeaders([['x-my-override', '1'], ['X-HTTP-Method-Override', 'DELETE']], custom), [['X-HTTP-Method-Override', 'DELETE']])
  t.equal(withoutOverrideParams('verb=DELETE&_method=x', custom), '_method=x')
})
