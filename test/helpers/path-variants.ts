// Generators for spellings of a path that lenient servers read as the same path (case, ";"
// parameters, trailing dots and spaces, single and double percent-encoding, dot and empty
// segments): shared by the unit and the end-to-end property tests of deny matching.
import fc from 'fast-check'

export const word = fc.stringMatching(/^[a-z0-9_-]{1,8}$/)
const HEX = '0123456789ABCDEF'
const enc = (ch: string): string => { const b = ch.charCodeAt(0); return '%' + HEX[b >> 4] + HEX[b & 15] }

/** One way a lenient server may be told the same segment. */
export type Variant = { kind: 'case'; mask: number[] } | { kind: 'param'; text: string } | { kind: 'trail'; text: string } | { kind: 'encode'; at: number; twice: boolean; lower: boolean }
export const variant: fc.Arbitrary<Variant> = fc.oneof(
  fc.record({ kind: fc.constant('case' as const), mask: fc.array(fc.nat(7), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('param' as const), text: fc.constantFrom(';', ';jsessionid=1', ';a=b;c', ';.') }),
  fc.record({ kind: fc.constant('trail' as const), text: fc.constantFrom('.', '..', '%20', '.%20', '%2e', '%252e', '%2520', '%20.') }),
  fc.record({ kind: fc.constant('encode' as const), at: fc.nat(7), twice: fc.boolean(), lower: fc.boolean() }),
)

export function apply(seg: string, v: Variant): string {
  switch (v.kind) {
    case 'case': return [...seg].map((c, i) => (v.mask.includes(i) ? c.toUpperCase() : c)).join('')
    case 'param': return seg + v.text
    case 'trail': return seg + v.text
    case 'encode': {
      const i = v.at % seg.length
      let e = enc(seg[i]!)
      if (v.lower) e = e.toLowerCase()
      if (v.twice) e = '%25' + e.slice(1)
      return seg.slice(0, i) + e + seg.slice(i + 1)
    }
  }
}

/** Path-level wrappers a lenient server resolves away. */
export const wrapper = fc.constantFrom('', '/./', '/x/../', '/;p/', '/%2e/')


/**
 * A raw request path that a lenient server reads as `/admin` or below it: `admin` and up to two
 * more segments, each bent by up to three variants, an optional trailing slash and a wrapper.
 */
export const lenientAdminPath: fc.Arbitrary<string> = fc.tuple(
  fc.array(word, { maxLength: 2 }),
  fc.array(fc.array(variant, { maxLength: 3 }), { minLength: 3, maxLength: 3 }),
  fc.boolean(),
  wrapper,
).map(([rest, variants, slash, wrap]) => {
  const segs = ['admin', ...rest].map((s, i) => (variants[i] ?? []).reduce(apply, s))
  const raw = '/' + segs.join('/') + (slash ? '/' : '')
  return wrap !== '' ? wrap.slice(0, -1) + raw : raw
})
