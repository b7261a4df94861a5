// Deny rules against lenient back ends (issue 14, attacks 4 and 5): a deny rule must hold for
// every spelling of a denied path that some common server reads as that path (case, ";"
// parameters, trailing dots and spaces, single and double percent-encoding, dot segments, empty
// segments, a trailing "/"); such spellings are either denied or refused as unparseable, never
// allowed. Allow routes stay exact. The examples from the issue first, then fast-check.
import t from 'tap'
import fc from 'fast-check'
import { compileAllowlist } from '../../proxy/src/classify/allowlist.ts'
import { normalisePath } from '../../proxy/src/classify/target.ts'
import { lenientSegments } from '../../proxy/src/classify/path-canonical.ts'
import type { Tool } from '../../proxy/src/config/schema.gen.ts'

const tools: Tool[] = [
  { name: 'api', match: { host: 'api.example.com' }, routes: [{ path: '/**', methods: ['*'] }, { path: '/debug', methods: ['TRACE'] }], deny: [{ path: '/admin/**' }, { path: '/v1/users/{id}/keys' }, { path: '/reports', methods: ['GET'] }] },
  { name: 'open', match: { host: 'open.example.com' } },
  { name: 'exact', match: { host: 'exact.example.com' }, routes: [{ path: '/Public/Docs' }] },
]
const allowlist = compileAllowlist(tools)
const api = allowlist.byName('api')!

/** What toolgate does with a raw path: 'refused' (400), 'denied' or 'allowed'. */
function outcome(rawPath: string, method = 'GET', tool = api): 'refused' | 'denied' | 'allowed' | 'no_route' {
  const p = normalisePath(rawPath)
  if (!p.ok) return 'refused'
  const m = allowlist.matchRoute(tool, method, p.path)
  return m.kind === 'route' ? 'allowed' : m.kind === 'denied' ? 'denied' : 'no_route'
}

t.test('the reproduced walk-arounds are denied or refused', async (t) => {
  for (const path of [
    '/ADMIN/secret', '/Admin/secret', '/admin;jsessionid=1/x', '/admin;/x', '/admin./x', '/admin%20/x', '/admin%2e/x',
    '/admin.%20./x', '/;x/admin/x', '/admin/', '/admin', '/ADMIN', '/%61dmin/x', '/%2561dmin/x', '/public/%252e%252e/admin',
    '/public/%252e%252e/admin/x', '/public/..%20/admin', '/public/..;/admin', '/public/%252fadmin', '/v1/users/7/KEYS', '/v1/users/7/keys;x',
  ]) {
    t.not(outcome(path), 'allowed', `${path} is not allowed (${outcome(path)})`)
  }
})

t.test('ordinary paths next to denied ones stay allowed', async (t) => {
  for (const path of ['/administrator', '/public/admin', '/v1/users/7', '/v1/users/7/keys2', '/files/100%25', '/a.b/c', '/.well-known/x']) {
    t.equal(outcome(path), 'allowed', path)
  }
})

t.test('a GET deny also denies HEAD; TRACE needs a route that names it', async (t) => {
  t.equal(outcome('/reports', 'GET'), 'denied')
  t.equal(outcome('/reports', 'HEAD'), 'denied')
  t.equal(outcome('/reports', 'POST'), 'allowed')
  t.equal(outcome('/anything', 'TRACE'), 'no_route', 'route methods "*" does not include TRACE')
  t.equal(outcome('/debug', 'TRACE'), 'allowed', 'a route naming TRACE allows it')
  t.equal(outcome('/x', 'TRACE', allowlist.byName('open')!), 'denied', 'a tool without routes never forwards TRACE')
  t.equal(outcome('/x', 'TRACK', allowlist.byName('open')!), 'denied')
})

t.test('allow routes stay exact: case and parameters do not widen a route', async (t) => {
  const exact = allowlist.byName('exact')!
  t.equal(outcome('/Public/Docs', 'GET', exact), 'allowed')
  t.equal(outcome('/public/docs', 'GET', exact), 'no_route')
  t.equal(outcome('/Public/Docs;x', 'GET', exact), 'no_route')
})

t.test('lenient reading of single segments', async (t) => {
  t.same(lenientSegments('/A;b=c/D.%20/'), { ok: true, segments: ['a', 'd'] })
  t.equal(lenientSegments('/x/%252F').ok, false)
  t.equal(lenientSegments('/x/%2500').ok, false)
})

// ---- property: no lenient variant of a denied path is ever allowed ----

import { word, variant, apply, wrapper } from '../helpers/path-variants.ts'

t.test('property: a lenient variant of a denied path is never forwarded', async (t) => {
  let checked = 0
  fc.assert(fc.property(
    fc.array(word, { minLength: 1, maxLength: 3 }),
    fc.array(word, { maxLength: 3 }),
    fc.array(fc.array(variant, { maxLength: 3 }), { minLength: 4, maxLength: 4 }),
    fc.boolean(),
    wrapper,
    (deniedSegs, rest, variants, trailingSlash, wrap) => {
      // The tool denies /<deniedSegs>/** and allows everything else.
      const local = compileAllowlist([{ name: 't', match: { host: 'h.example.com' }, routes: [{ path: '/**', methods: ['*'] }], deny: [{ path: '/' + deniedSegs.join('/') + '/**' }] }])
      const tool = local.byName('t')!
      const segs = [...deniedSegs, ...rest].map((s, i) => (variants[i] ?? []).reduce(apply, s))
      let raw = '/' + segs.join('/') + (trailingSlash ? '/' : '')
      if (wrap !== '') raw = wrap.slice(0, -1) + raw
      const p = normalisePath(raw)
      if (!p.ok) return true // refused (400): never forwarded
      checked++
      const m = local.matchRoute(tool, 'GET', p.path)
      return m.kind !== 'route'
    },
  ), { numRuns: 3000 })
  t.ok(checked > 1000, `most generated variants parse and reach deny matching (${checked} of 3000)`)
})

t.test('property: paths that are not variants of the denied prefix are not denied by it', async (t) => {
  fc.assert(fc.property(word, fc.array(word, { maxLength: 3 }), (w, rest) => {
    const local = compileAllowlist([{ name: 't', match: { host: 'h.example.com' }, routes: [{ path: '/**', methods: ['*'] }], deny: [{ path: '/zzdenied/**' }] }])
    const m = local.matchRoute(local.byName('t')!, 'GET', '/' + [w, ...rest].join('/'))
    return m.kind === 'route'
  }), { numRuns: 500 })
  t.pass('no false denials on unrelated paths')
})
