// Host and path canonicalisation: exhaustive tables of accepted spellings (with their one canonical
// form) and refused ones (with the reason), plus a property test over random paths.
import t from 'tap'
import { canonicalHost, normalisePath, formatAuthority, parsePort, checkQuery } from '../../proxy/src/classify/target.ts'

const hostsAccepted: Array<[string, string, boolean]> = [
  ['example.com', 'example.com', false],
  ['EXAMPLE.Com', 'example.com', false],
  ['example.com.', 'example.com', false],
  ['API.GitHub.com.', 'api.github.com', false],
  ['bücher.ch', 'xn--bcher-kva.ch', false],
  ['xn--bcher-kva.ch', 'xn--bcher-kva.ch', false],
  ['BÜCHER.ch', 'xn--bcher-kva.ch', false],
  ['ｅxample.com', 'example.com', false], // full-width letters: UTS 46 maps them, one canonical name
  ['my_service.internal', 'my_service.internal', false],
  ['localhost', 'localhost', false],
  ['a-b.c-d.example', 'a-b.c-d.example', false],
  ['127.0.0.1', '127.0.0.1', true],
  ['10.0.0.255', '10.0.0.255', true],
  ['127.0.0.1.', '127.0.0.1', true], // trailing dot: WHATWG and resolvers read the same address
  ['0.0.0.0', '0.0.0.0', true],
  ['::1', '::1', true],
  ['[::1]', '::1', true],
  ['[0:0:0:0:0:0:0:1]', '::1', true],
  ['[2001:DB8:0:0:0:0:0:1]', '2001:db8::1', true],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1', true],
  ['fd00::abcd', 'fd00::abcd', true],
]

const hostsRefused: Array<[string, RegExp]> = [
  ['', /empty host/],
  ['0x7f.0.0.1', /ambiguous IPv4/],
  ['0x7f.1', /ambiguous IPv4/],
  ['0x7f000001', /ambiguous IPv4/],
  ['2130706433', /ambiguous IPv4/],
  ['017700000001', /ambiguous IPv4/],
  ['0177.0.0.1', /ambiguous IPv4/],
  ['127.1', /ambiguous IPv4/],
  ['127.0.1', /ambiguous IPv4/],
  ['127.000.000.001', /ambiguous IPv4/],
  ['1.2.3.04', /ambiguous IPv4/],
  ['256.0.0.1', /ambiguous IPv4/],
  ['1.2.3.4.5', /ambiguous IPv4/],
  ['foo.123', /ambiguous IPv4/],
  ['example.0x10', /ambiguous IPv4/],
  ['１２７.0.0.1', /ambiguous IPv4/], // full-width digits map to an IPv4 address
  ['example..com', /bad label/],
  ['example.com..', /invalid host/],
  ['.', /invalid host/],
  ['-example.com', /bad label/],
  ['example-.com', /bad label/],
  ['*.example.com', /bad label/],
  ['exa mple.com', /invalid character/],
  ['example.com\\@evil.com', /invalid character/],
  ['evil.com/x', /invalid character/],
  ['good.com@evil.com', /invalid character/],
  ['ex%61mple.com', /invalid character/],
  ['exam\u0000ple.com', /invalid character/],
  ['a'.repeat(64) + '.com', /bad label/],
  [('a'.repeat(60) + '.').repeat(5) + 'com', /longer than 253/],
  ['[::1', /unterminated IPv6/],
  ['[fe80::1%25eth0]', /zone identifiers/],
  ['fe80::1%eth0', /zone identifiers/],
  ['[1::2::3]', /invalid IPv6/],
  ['[127.0.0.1]', /invalid IPv6/],
]

t.test('canonicalHost accepts each spelling and returns its one canonical form', async (t) => {
  for (const [raw, host, isIp] of hostsAccepted) {
    t.same(canonicalHost(raw), { ok: true, host, isIp }, JSON.stringify(raw))
    // Canonical output is a fixed point.
    t.same(canonicalHost(host), { ok: true, host, isIp }, `${JSON.stringify(host)} is stable`)
  }
})

t.test('canonicalHost refuses ambiguous and invalid hosts with a precise reason', async (t) => {
  for (const [raw, reason] of hostsRefused) {
    const r = canonicalHost(raw)
    t.equal(r.ok, false, `${JSON.stringify(raw)} refused`)
    if (!r.ok) t.match(r.reason, reason, `${JSON.stringify(raw)}: ${r.reason}`)
  }
})

t.test('authority formatting and ports', async (t) => {
  t.equal(formatAuthority('example.com', 443, 'https'), 'example.com')
  t.equal(formatAuthority('example.com', 80, 'https'), 'example.com:80')
  t.equal(formatAuthority('example.com', 80, 'http'), 'example.com')
  t.equal(formatAuthority('::1', 8080, 'http'), '[::1]:8080')
  t.equal(formatAuthority('::1', 443, 'https'), '[::1]')
  t.equal(parsePort('443'), 443)
  t.equal(parsePort('65535'), 65535)
  for (const bad of ['', '0', '65536', '0443', '+1', '-1', '1e3', ' 80', '99999999999']) t.equal(parsePort(bad), null, JSON.stringify(bad))
})

const pathsAccepted: Array<[string, string]> = [
  ['/', '/'],
  ['/a', '/a'],
  ['/a/', '/a/'],
  ['/a/b/c', '/a/b/c'],
  ['/a/./b', '/a/b'],
  ['/a/../b', '/b'],
  ['/a/b/../../c', '/c'],
  ['/a/b/..', '/a/'],
  ['/a/b/.', '/a/b/'],
  ['/a/b/./', '/a/b/'],
  ['/.', '/'],
  ['/a/..', '/'],
  ['/./a', '/a'],
  ['/public/../admin/users', '/admin/users'],
  ['/%7Euser', '/~user'],
  ['/%7euser', '/~user'],
  ['/%41%42c', '/ABc'],
  ['/%2d%2E%5f', '/-._'],
  ['/a%2eb', '/a.b'], // an encoded dot inside a segment is just a dot
  ['/a%2e%2e', '/a..'],
  ['/%2e%2e%2e', '/...'], // three dots are not a dot segment
  ['/a%20b', '/a%20b'],
  ['/a%3bb', '/a%3Bb'],
  ['/a%3Fb', '/a%3Fb'],
  ['/a%25b', '/a%25b'],
  ['/%c3%a9', '/%C3%A9'],
  ['/%F0%9F%98%80', '/%F0%9F%98%80'],
  ['/a{b}', '/a%7Bb%7D'],
  ['/a|b', '/a%7Cb'],
  ['/a"b', '/a%22b'],
  ['/a[0]', '/a%5B0%5D'],
  ['/a;b=c/d', '/a;b=c/d'],
  ['/a:b@c!$&\'()*+,=', '/a:b@c!$&\'()*+,='],
  ['/...', '/...'],
  ['/.a/..b', '/.a/..b'],
]

const pathsRefused: Array<[string, RegExp]> = [
  ['', /must start with/],
  ['a/b', /must start with/],
  ['/a%2fb', /encoded "\/"/],
  ['/a%2Fb', /encoded "\/"/],
  ['/a%5cb', /encoded "\\"/],
  ['/x%5c..%5cadmin', /encoded "\\"/],
  ['/a\\b', /backslash/],
  ['/a/%2e%2e/b', /encoded dot segment/],
  ['/a/%2E%2E', /encoded dot segment/],
  ['/a/.%2e/b', /encoded dot segment/],
  ['/a/%2e/b', /encoded dot segment/],
  ['/a%00', /control character/],
  ['/a%0d%0aX-Injected:1', /control character/],
  ['/a%7f', /control character/],
  ['/a%c2%85', /control character/], // C1 NEL
  ['/a\u0000', /control character/],
  ['/a\tb', /control character/],
  ['/a b', /space/],
  ['/x%c0%afadmin', /not valid UTF-8/], // overlong '/'
  ['/x%c0%ae%c0%ae/', /not valid UTF-8/], // overlong '.'
  ['/x%e0%80%af', /not valid UTF-8/],
  ['/x%ed%a0%80', /not valid UTF-8/], // surrogate
  ['/x%c3', /not valid UTF-8/], // truncated
  ['/x%ff', /not valid UTF-8/],
  ['/x%e2%88%95y', /look-alike/], // U+2215 division slash
  ['/x%ef%bc%8fy', /look-alike/], // U+FF0F full-width solidus
  ['/a%zz', /malformed percent-escape/],
  ['/a%2', /malformed percent-escape/],
  ['/a%', /malformed percent-escape/],
  ['/é', /non-ASCII/],
  ['/..', /above the root/],
  ['/a/../..', /above the root/],
  ['/../etc/passwd', /above the root/],
  ['//a', /empty path segment/],
  ['/a//b', /empty path segment/],
  ['/a/b//', /empty path segment/],
  ['/x/..;/admin', /dot segment with ";"/],
  ['/x/.;a/admin', /dot segment with ";"/],
  ['/a#b', /not allowed in path/],
  ['/a?b', /not allowed in path/],
]

t.test('normalisePath accepts and canonicalises', async (t) => {
  for (const [raw, path] of pathsAccepted) {
    t.same(normalisePath(raw), { ok: true, path }, JSON.stringify(raw))
    t.same(normalisePath(path), { ok: true, path }, `${JSON.stringify(path)} is stable`)
  }
})

t.test('normalisePath refuses ambiguous paths with a precise reason', async (t) => {
  for (const [raw, reason] of pathsRefused) {
    const r = normalisePath(raw)
    t.equal(r.ok, false, `${JSON.stringify(raw)} refused`)
    if (!r.ok) t.match(r.reason, reason, `${JSON.stringify(raw)}: ${r.reason}`)
  }
})

t.test('checkQuery: raw query is forwarded as is, so only clean printable ASCII passes', async (t) => {
  for (const ok of ['', 'a=1&b=2', 'q=%2F..%2F', 'a=b=c;d', 'x=%E2%82%AC']) t.same(checkQuery(ok), { ok: true }, JSON.stringify(ok))
  for (const bad of ['a=1 2', 'a=\u0000', 'a=é', 'a=1#frag', 'a=%zz', 'a=%']) t.equal(checkQuery(bad).ok, false, JSON.stringify(bad))
})

// Deterministic PRNG, so a failure reproduces from the printed seed.
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = s
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const PIECES = ['a', 'b', 'Z', '0', '.', '..', '...', '%2e', '%2E%2e', '%2f', '%5c', '%00', '%41', '%7e', '%7E', '%c3%a9', '%c0%af', '%zz', '%', ';', '..;', '-', '_', '~', '{', '|', ' ', '\\', '%20', ':', '@', '!', '=', '%3b', '%e2%88%95', 'é', '']

t.test('property: normalisePath is idempotent and never leaves a dot segment', async (t) => {
  const seed = 20240611
  const rnd = prng(seed)
  let accepted = 0
  let failures = 0
  for (let i = 0; i < 20000; i++) {
    const nSegs = 1 + Math.floor(rnd() * 7)
    const segs: string[] = []
    for (let s = 0; s < nSegs; s++) {
      const nPieces = Math.floor(rnd() * 4)
      let seg = ''
      for (let p = 0; p < nPieces; p++) seg += PIECES[Math.floor(rnd() * PIECES.length)]!
      segs.push(seg)
    }
    const raw = '/' + segs.join('/')
    const r = normalisePath(raw)
    if (!r.ok) continue
    accepted++
    const again = normalisePath(r.path)
    const problems: string[] = []
    if (!again.ok || again.path !== r.path) problems.push(`not idempotent: ${JSON.stringify(again)}`)
    if (r.path.includes('/../') || r.path.includes('/./') || r.path.endsWith('/..') || r.path.endsWith('/.')) problems.push('dot segment left')
    if (r.path.includes('//')) problems.push('empty segment left')
    if (/%(2F|5C|00)/i.test(r.path)) problems.push('encoded separator or NUL left')
    if (!r.path.startsWith('/')) problems.push('does not start with /')
    if (problems.length > 0 && failures++ < 10) t.fail(`seed ${seed}, ${JSON.stringify(raw)} → ${JSON.stringify(r.path)}: ${problems.join(', ')}`)
  }
  t.equal(failures, 0, 'no property violations')
  // The generator must exercise the accepting branch a lot, or the property proves nothing.
  t.ok(accepted > 2000, `accepted ${accepted} of 20000 random paths`)
})
