// Keys a case-insensitive parser (Go's encoding/json: Unicode simple folding, last match wins)
// reads as one: property-based, over arbitrary keys, case variants and the two non-ASCII
// characters that fold to ASCII (U+017F long s, U+212A Kelvin sign), at arbitrary depth.

import t from 'tap'
import fc from 'fast-check'
import { parseMcpBody } from '../../proxy/src/classify/mcp/parse.ts'
import { foldKey, keyProblem, objectKeysProblem } from '../../proxy/src/classify/mcp/keys.ts'

const CT = 'application/json'
const MAX = 1 << 20
const asciiKey = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/)

/** A different spelling of key that Go would still match: random case flips, s->ſ, k->K. */
const variantOf = (key: string): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 2 }), { minLength: key.length, maxLength: key.length }).map((choice) =>
    [...key].map((ch, i) => {
      const c = choice[i]!
      if (c === 1) return ch.toUpperCase()
      if (c === 2 && ch === 's') return '\u017f'
      if (c === 2 && ch === 'k') return '\u212a'
      return ch
    }).join('')).filter((v) => v !== key)

/** Wraps an object in `depth` levels of arguments, so the collision sits anywhere in a message. */
function message(inner: Record<string, unknown>, depth: number): Buffer {
  let v: unknown = inner
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { nested: v } : [v]
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_x', arguments: { a: v } } }))
}

t.test('any key plus a folded spelling of it is refused, at any depth', async (t) => {
  fc.assert(fc.property(asciiKey.chain((k) => fc.tuple(fc.constant(k), variantOf(k))), fc.integer({ min: 0, max: 20 }), ([key, variant], depth) => {
    t.equal(foldKey(key), foldKey(variant.replace(/\u017f/g, 's').replace(/\u212a/g, 'k')))
    // Build the JSON text by hand: JSON.stringify of an object would keep both keys too, but be explicit.
    const body = message({ [key]: 'seen by toolgate', [variant]: 'run by the server' }, depth)
    const r = parseMcpBody(body, CT, MAX)
    return !r.ok && r.code === -32600 && r.status === 400
  }), { numRuns: 300 })
})

t.test('a lone non-ASCII spelling that folds to ASCII is refused (no partner needed)', async (t) => {
  fc.assert(fc.property(asciiKey.filter((k) => /[sk]/.test(k)), fc.integer({ min: 0, max: 10 }), (key, depth) => {
    const aliased = key.replace('s', '\u017f').replace('k', '\u212a')
    const r = parseMcpBody(message({ [aliased]: 1 }, depth), CT, MAX)
    return !r.ok && /case-insensitive parsers read as ASCII/.test(r.reason)
  }), { numRuns: 200 })
  t.equal(keyProblem('plain_key'), null)
})

t.test('keys with NUL, control or format characters are refused anywhere', async (t) => {
  const bad = fc.constantFrom('\u0000', '\u0001', '\u007f', '\u0085', '\u200b', '\u200d', '\u202e', '\ufeff', '\u2066')
  fc.assert(fc.property(asciiKey, bad, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 10 }), (key, ch, at, depth) => {
    const pos = Math.min(at, key.length)
    const k = key.slice(0, pos) + ch + key.slice(pos)
    const r = parseMcpBody(message({ [k]: 1 }, depth), CT, MAX)
    return !r.ok && r.code === -32600
  }), { numRuns: 300 })
})

t.test('distinct ASCII keys that do not fold together are accepted (no false refusals)', async (t) => {
  fc.assert(fc.property(fc.uniqueArray(asciiKey, { maxLength: 8, selector: (k) => foldKey(k) }), (keys) => {
    t.equal(objectKeysProblem(keys), null)
    const r = parseMcpBody(message(Object.fromEntries(keys.map((k) => [k, k])), 2), CT, MAX)
    return r.ok
  }), { numRuns: 200 })
})
