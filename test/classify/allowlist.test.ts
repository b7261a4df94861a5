// Allowlist semantics: host matching (exact beats wildcard, wildcard never matches the bare
// domain, ports, schemes), path patterns, deny rules winning, access defaults, near misses, and
// the config errors compileAllowlist raises.
import t from 'tap'
import { compileAllowlist, allowlistErrors, AllowlistError, type Allowlist, type CompiledTool } from '../../proxy/src/classify/allowlist.ts'
import { compilePattern, matchPattern } from '../../proxy/src/classify/path-pattern.ts'
import type { Tool } from '../../proxy/src/config/schema.gen.ts'

const tools: Tool[] = [
  {
    name: 'github',
    match: { host: 'api.github.com' },
    access: 'read',
    data_classification: 'internal',
    labels: { team: 'dev', owner: 'platform' },
    routes: [
      { name: 'repo', path: '/repos/{owner}/{repo}' },
      { path: '/repos/{owner}/{repo}/issues', methods: ['POST'], access: 'write', labels: { owner: 'issues-team' }, data_classification: 'confidential' },
      { path: '/repos/{owner}/{repo}/contents/**', methods: ['GET', 'PUT'] },
      { path: '/search/*', methods: ['*'] },
      { path: '/stream', upgrade: true },
    ],
    deny: [
      { path: '/repos/{owner}/{repo}/contents/.github/**', methods: ['PUT'], reason: 'workflows are off limits' },
      { path: '/admin/**' },
    ],
  },
  { name: 'any-example', match: { host: '*.example.com' }, routes: [{ path: '/**', methods: ['*'] }] },
  { name: 'deep-example', match: { host: '*.eu.example.com' }, routes: [{ path: '/**' }] },
  { name: 'www-example', match: { host: 'www.example.com' }, routes: [{ path: '/**' }] },
  { name: 'plain', match: { scheme: 'http', host: 'Internal.Svc.', port: 8080 } },
  { name: 'plain-tls', match: { host: 'internal.svc', port: 8443 }, access: 'execute' },
  { name: 'v6', match: { scheme: 'http', host: '[0:0::1]', port: 9000 }, routes: [] },
]

let al: Allowlist
t.before(() => {
  al = compileAllowlist(tools)
})

const tool = (name: string): CompiledTool => al.byName(name)!

t.test('matchTarget: hosts, wildcards, ports, schemes', async (t) => {
  const cases: Array<[string, string, number, string | null]> = [
    ['https', 'api.github.com', 443, 'github'],
    ['http', 'api.github.com', 443, null], // scheme is part of the match
    ['https', 'api.github.com', 8443, null], // default port only
    ['https', 'github.com', 443, null],
    ['https', 'x.api.github.com', 443, null], // exact means exact
    ['https', 'www.example.com', 443, 'www-example'], // exact beats *.example.com
    ['https', 'api.example.com', 443, 'any-example'],
    ['https', 'a.b.example.com', 443, 'any-example'], // any depth below the domain
    ['https', 'x.eu.example.com', 443, 'deep-example'], // the longer wildcard wins
    ['https', 'eu.example.com', 443, 'any-example'], // *.eu.example.com does not match eu.example.com itself
    ['https', 'example.com', 443, null], // *.example.com does not match the bare domain
    ['https', 'badexample.com', 443, null], // suffix on a label boundary only
    ['https', 'example.com.evil.net', 443, null],
    ['http', 'internal.svc', 8080, 'plain'], // config host canonicalised (case, trailing dot)
    ['http', 'internal.svc', 80, null],
    ['https', 'internal.svc', 8443, 'plain-tls'],
    ['http', '::1', 9000, 'v6'],
  ]
  for (const [scheme, host, port, expected] of cases) {
    t.equal(al.matchTarget({ scheme: scheme as 'http' | 'https', host, port })?.name ?? null, expected, `${scheme}://${host}:${port}`)
  }
})

t.test('matchRoute: routes, captures, method defaults, access, classification, labels', async (t) => {
  const gh = tool('github')
  let m = al.matchRoute(gh, 'GET', '/repos/acme/app')
  t.same(m, { kind: 'route', route: { index: 0, name: 'repo', pattern: '/repos/{owner}/{repo}', captures: { owner: 'acme', repo: 'app' }, upgrade: false }, access: 'read', classification: 'internal', labels: { team: 'dev', owner: 'platform' } })
  t.equal(al.matchRoute(gh, 'HEAD', '/repos/acme/app').kind, 'route', 'routes default to GET and HEAD')
  m = al.matchRoute(gh, 'POST', '/repos/acme/app/issues')
  t.same(m, { kind: 'route', route: { index: 1, name: null, pattern: '/repos/{owner}/{repo}/issues', captures: { owner: 'acme', repo: 'app' }, upgrade: false }, access: 'write', classification: 'confidential', labels: { team: 'dev', owner: 'issues-team' } }, 'route access, classification and labels override the tool')
  m = al.matchRoute(gh, 'PUT', '/repos/acme/app/contents/src/a.ts')
  t.equal(m.kind === 'route' && m.access, 'read', 'tool access is the default before the method default')
  t.equal(al.matchRoute(gh, 'PUT', '/repos/acme/app/contents').kind, 'route', "'**' matches zero segments")
  t.equal(al.matchRoute(gh, 'DELETE', '/search/code').kind, 'route', "methods ['*'] allows any")
  t.equal(al.matchRoute(gh, 'GET', '/search/code/more').kind, 'none', "'*' is one segment")
  t.equal(al.matchRoute(gh, 'GET', '/search/').kind, 'none', "'*' does not match the empty segment after a trailing /")
  t.equal(al.matchRoute(gh, 'GET', '/repos/acme').kind, 'none')
  t.equal(al.matchRoute(gh, 'get', '/repos/acme/app').kind, 'none', 'methods are case-sensitive')
  m = al.matchRoute(gh, 'GET', '/stream')
  t.equal(m.kind === 'route' && m.route.upgrade, true, 'upgrade flag of the route')

  // Access defaults with no tool or route access: by method.
  const ex = tool('any-example')
  for (const [method, access] of [['GET', 'read'], ['HEAD', 'read'], ['OPTIONS', 'read'], ['POST', 'write'], ['DELETE', 'write'], ['PATCH', 'write']] as const) {
    const r = al.matchRoute(ex, method, '/x')
    t.equal(r.kind === 'route' && r.access, access, `${method} defaults to ${access}`)
  }
})

t.test('deny rules win over routes; their methods default to any', async (t) => {
  const gh = tool('github')
  t.same(al.matchRoute(gh, 'PUT', '/repos/acme/app/contents/.github/workflows/ci.yml'), { kind: 'denied', rule: 0, reason: 'workflows are off limits' })
  t.equal(al.matchRoute(gh, 'GET', '/repos/acme/app/contents/.github/workflows/ci.yml').kind, 'route', 'deny rule limited to PUT')
  for (const method of ['GET', 'POST', 'DELETE', 'PROPFIND']) {
    const m = al.matchRoute(gh, method, '/admin/users')
    t.equal(m.kind, 'denied', `${method} /admin/users denied`)
    if (m.kind === 'denied') t.match(m.reason, /deny rule 1 \(\/admin\/\*\*\) of tool github matches/)
  }
  t.equal(al.matchRoute(gh, 'GET', '/admin').kind, 'denied', "'/admin/**' covers /admin itself")
  t.equal(al.matchRoute(gh, 'GET', '/administrator').kind, 'none', 'but not /administrator')
})

t.test('a tool without routes allows every method and path (minus deny rules); routes: [] allows none', async (t) => {
  let m = al.matchRoute(tool('plain'), 'DELETE', '/anything/at/all')
  t.same(m, { kind: 'route', route: { index: -1, name: null, pattern: '/**', captures: {}, upgrade: false }, access: 'write', classification: null, labels: {} })
  m = al.matchRoute(tool('plain-tls'), 'GET', '/x')
  t.equal(m.kind === 'route' && m.access, 'execute', 'tool access applies')
  t.same(al.matchRoute(tool('v6'), 'GET', '/'), { kind: 'none', nearMisses: [] })
})

t.test('near misses explain what almost matched', async (t) => {
  const gh = tool('github')
  let m = al.matchRoute(gh, 'DELETE', '/repos/acme/app')
  t.same(m, { kind: 'none', nearMisses: ['route 0 (/repos/{owner}/{repo}) matches the path but not method DELETE (allowed: GET, HEAD)'] })
  m = al.matchRoute(gh, 'GET', '/repos/acme/app/')
  t.same(m, { kind: 'none', nearMisses: ['route 0 (/repos/{owner}/{repo}) would match /repos/acme/app (the path differs in its trailing "/")'] })
  m = al.matchRoute(gh, 'GET', '/repos/acme/app/issues')
  t.same(m, { kind: 'none', nearMisses: ['route 1 (/repos/{owner}/{repo}/issues) matches the path but not method GET (allowed: POST)'] })
  t.same(al.matchRoute(gh, 'GET', '/nothing/like/it'), { kind: 'none', nearMisses: [] })
})

t.test('path patterns', async (t) => {
  const cases: Array<[string, string, Record<string, string> | null]> = [
    ['/', '/', {}],
    ['/', '/a', null],
    ['/**', '/', {}],
    ['/**', '/a/b/c/', {}],
    ['/a/**', '/a', {}],
    ['/a/**', '/a/', {}],
    ['/a/**', '/ab', null],
    ['/**/x', '/x', {}],
    ['/**/x', '/a/b/x', {}],
    ['/**/x', '/a/b/x/', null],
    ['/{a}/**/{b}', '/1/2', { a: '1', b: '2' }],
    ['/{a}/**/{b}', '/1/m/n/2', { a: '1', b: '2' }],
    ['/{a}/**/{b}', '/1', null],
    ['/a/*/c', '/a/b/c', {}],
    ['/a/*/c', '/a//c', null],
    ['/a/', '/a/', {}],
    ['/a/', '/a', null],
    ['/users/{id}', '/users/%C3%A9', { id: '%C3%A9' }],
    ['/a%20b', '/a%20b', {}],
    ['/a~b', '/a~b', {}],
  ]
  for (const [pattern, path, expected] of cases) t.same(matchPattern(compilePattern(pattern), path), expected, `${pattern} ~ ${path}`)
})

t.test('invalid patterns, hosts and base URLs are config errors with a path', async (t) => {
  const bad: Array<[Tool, (string | number)[], RegExp]> = [
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: 'no-slash' }] }, ['tools', 0, 'routes', 0, 'path'], /must start with "\/"/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a*' }] }, ['tools', 0, 'routes', 0, 'path'], /whole segment/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/**/a/**' }] }, ['tools', 0, 'routes', 0, 'path'], /at most one "\*\*"/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/{id}.json' }] }, ['tools', 0, 'routes', 0, 'path'], /invalid capture/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/{a}/{a}' }] }, ['tools', 0, 'routes', 0, 'path'], /appears twice/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a//b' }] }, ['tools', 0, 'routes', 0, 'path'], /empty segment/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a/../b' }] }, ['tools', 0, 'routes', 0, 'path'], /dot segments/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a%7eb' }] }, ['tools', 0, 'routes', 0, 'path'], /not in canonical form; write "a~b"/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a%2fb' }] }, ['tools', 0, 'routes', 0, 'path'], /encoded "\/"/],
    [{ name: 'x', match: { host: 'a.com' }, routes: [{ path: '/a?x=1' }] }, ['tools', 0, 'routes', 0, 'path'], /path only/],
    [{ name: 'x', match: { host: 'a.com' }, deny: [{ path: '/a{b' }] }, ['tools', 0, 'deny', 0, 'path'], /"\{" and "\}"/],
    [{ name: 'x', match: { host: 'a.com' }, deny: [{ path: '/a}' }] }, ['tools', 0, 'deny', 0, 'path'], /invalid capture/],
    [{ name: 'x', match: { host: '0x7f.1' } }, ['tools', 0, 'match', 'host'], /ambiguous IPv4/],
    [{ name: 'x', match: { host: 'a*.com' } }, ['tools', 0, 'match', 'host'], /whole first label/],
    [{ name: 'x', match: { host: '*.com' } }, ['tools', 0, 'match', 'host'], /top-level domain/],
    [{ name: 'x', match: { host: '*.10.0.0.1' } }, ['tools', 0, 'match', 'host'], /IP address/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'https://b.com' }, ['tools', 0, 'base_url'], /outside the tool's match/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'http://a.com' }, ['tools', 0, 'base_url'], /outside the tool's match/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'https://a.com:8443' }, ['tools', 0, 'base_url'], /outside the tool's match/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'https://u@a.com' }, ['tools', 0, 'base_url'], /userinfo/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'https://a.com/v1?x' }, ['tools', 0, 'base_url'], /without query/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'ftp://a.com' }, ['tools', 0, 'base_url'], /http\(s\)/],
    [{ name: 'x', match: { host: 'a.com' }, base_url: 'https://a.com/v1/../..' }, ['tools', 0, 'base_url'], /above the root/],
  ]
  for (const [tool, path, message] of bad) {
    const err = t.throws(() => compileAllowlist([tool])) as unknown
    t.ok(err instanceof AllowlistError, `${JSON.stringify(tool)} throws AllowlistError`)
    if (err instanceof AllowlistError) {
      t.same(err.path, path, `path ${path.join('.')}`)
      t.match(err.message, message, err.message)
    }
  }
})

function thrown(f: () => unknown): AllowlistError {
  try {
    f()
  } catch (err) {
    if (err instanceof AllowlistError) return err
    throw err
  }
  throw new Error('expected an AllowlistError')
}

t.test('two tools on one destination or one name are refused', async (t) => {
  let e = thrown(() => compileAllowlist([{ name: 'a', match: { host: 'x.com' } }, { name: 'b', match: { host: 'X.com.' } }]))
  t.same(e.path, ['tools', 1, 'match'])
  t.match(e.message, /tools "a" and "b" match the same destination https:\/\/x\.com:443/)
  e = thrown(() => compileAllowlist([{ name: 'a', match: { host: '*.x.com' } }, { name: 'b', match: { host: '*.X.com' } }]))
  t.same(e.path, ['tools', 1, 'match'])
  e = thrown(() => compileAllowlist([{ name: 'a', match: { host: 'x.com' } }, { name: 'a', match: { host: 'y.com' } }]))
  t.same(e.path, ['tools', 1, 'name'])
  t.match(e.message, /used twice/)
  // Same host, different port or scheme: different destinations.
  t.doesNotThrow(() => compileAllowlist([{ name: 'a', match: { host: 'x.com' } }, { name: 'b', match: { host: 'x.com', port: 8443 } }, { name: 'c', match: { host: 'x.com', scheme: 'http' } }]))
})

t.test('allowlistErrors reports every problem at once', async (t) => {
  const errors = allowlistErrors([
    { name: 'a', match: { host: 'a.com' }, routes: [{ path: '/ok' }, { path: 'bad' }], deny: [{ path: '/x*' }] },
    { name: 'b', match: { host: '127.1' } },
    { name: 'c', match: { host: 'c.com' } },
  ])
  t.same(errors.map((e) => e.path), [['tools', 0, 'routes', 1, 'path'], ['tools', 0, 'deny', 0, 'path'], ['tools', 1, 'match', 'host']])
  t.same(allowlistErrors(tools), [], 'the valid allowlist has none')
  t.same(allowlistErrors([{ name: 'a', match: { host: 'x.com' } }, { name: 'b', match: { host: 'x.com' } }]).map((e) => e.path), [['tools', 1, 'match']])
})

t.test('base_url: default, path prefix, wildcard tools', async (t) => {
  const a = compileAllowlist([
    { name: 'api', match: { host: 'api.x.com' }, base_url: 'https://API.x.com./v1/' },
    { name: 'wild', match: { host: '*.x.com' } },
    { name: 'wild-base', match: { host: '*.y.com', port: 8443 }, base_url: 'https://eu.y.com:8443/api' },
    { name: 'ip', match: { scheme: 'http', host: '10.1.2.3', port: 8080 } },
  ])
  t.same(a.byName('api')!.base, { scheme: 'https', host: 'api.x.com', hostIsIp: false, port: 443, pathPrefix: '/v1' })
  t.equal(a.byName('wild')!.base, null, 'a wildcard tool has no default base')
  t.same(a.byName('wild-base')!.base, { scheme: 'https', host: 'eu.y.com', hostIsIp: false, port: 8443, pathPrefix: '/api' })
  t.same(a.byName('ip')!.base, { scheme: 'http', host: '10.1.2.3', hostIsIp: true, port: 8080, pathPrefix: '' })
  t.equal(a.byName('nope'), undefined)
})
