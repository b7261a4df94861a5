// classify(): every refusal the DESIGN asks for (and the bypass attempts behind them), and for
// accepted requests the exact canonical ToolCall and upstream request. Pure function, so no
// servers: the listener tests (test/proxy/) drive the same cases through real sockets.
import t from 'tap'
import { classify, type Classified, type RawRequest } from '../../proxy/src/classify/request.ts'
import { compileAllowlist } from '../../proxy/src/classify/allowlist.ts'

const allowlist = compileAllowlist([
  {
    name: 'github',
    match: { host: 'api.github.com' },
    routes: [
      { path: '/repos/{owner}/{repo}/issues', methods: ['GET', 'POST'] },
      { path: '/ws', upgrade: true },
      { path: '/public/**' },
    ],
    deny: [{ path: '/admin/**', reason: 'admin is off limits' }],
  },
  { name: 'echo', match: { scheme: 'http', host: '127.0.0.1', port: 8080 }, routes: [{ path: '/**', methods: ['*'] }] },
  { name: 'v1api', match: { host: 'api.x.com' }, base_url: 'https://api.x.com/v1' },
  { name: 'wild', match: { host: '*.wild.com' } },
  { name: 'tunnel', match: { host: 'files.example.com' }, passthrough: true, access: 'read', labels: { kind: 'files' } },
  { name: 'v6', match: { scheme: 'http', host: '::1', port: 9000 } },
])

let n = 0
const opts = { allowlist, newId: () => `id-${++n}`, maxHeaderBytes: 2048 }
const run = (raw: Partial<RawRequest> & { url: string }): Classified => classify({ via: 'forward', method: 'GET', rawHeaders: [], ...raw }, opts)
const H = 'api.github.com'
const GH = `https://${H}`

type Case = [string, Partial<RawRequest> & { url: string }, number, RegExp]
const refusals: Case[] = [
  // Host
  ['two Host headers', { url: `${GH}/public/x`, rawHeaders: ['Host', H, 'Host', H] }, 400, /more than one Host header/],
  ['two Host headers, differing', { url: `${GH}/public/x`, rawHeaders: ['Host', H, 'host', 'evil.com'] }, 400, /more than one Host header/],
  ['Host disagrees with absolute target', { url: `${GH}/public/x`, rawHeaders: ['Host', 'evil.com'] }, 400, /Host header \(evil\.com:443\) disagrees with the request target \(api\.github\.com:443\)/],
  ['Host port disagrees', { url: `${GH}/public/x`, rawHeaders: ['Host', `${H}:8443`] }, 400, /disagrees/],
  ['Host with userinfo', { url: `${GH}/public/x`, rawHeaders: ['Host', `u@${H}`] }, 400, /userinfo/],
  ['empty Host', { url: `${GH}/public/x`, rawHeaders: ['Host', ''] }, 400, /empty Host/],
  ['Host with ambiguous IPv4', { url: 'http://127.0.0.1:8080/x', rawHeaders: ['Host', '127.1:8080'] }, 400, /ambiguous IPv4/],
  // userinfo
  ['userinfo in URL', { url: `https://user@${H}/public/x` }, 400, /userinfo/],
  ['user:password in URL', { url: `https://user:pw@${H}/public/x` }, 400, /userinfo/],
  ['good.com@evil.com', { url: `https://${H}@evil.com/public/x` }, 400, /userinfo/],
  ['good.com:443@evil.com', { url: `https://${H}:443@evil.com/`, rawHeaders: ['Host', 'evil.com'] }, 400, /userinfo/],
  ['backslash-at trick', { url: `https://evil.com\\@${H}/` }, 400, /userinfo|invalid character/],
  // IP encodings
  ['hex IPv4', { url: 'http://0x7f.0.0.1:8080/x' }, 400, /ambiguous IPv4/],
  ['short hex IPv4', { url: 'http://0x7f.1:8080/x' }, 400, /ambiguous IPv4/],
  ['integer IPv4', { url: 'http://2130706433:8080/x' }, 400, /ambiguous IPv4/],
  ['octal IPv4', { url: 'http://017700000001:8080/x' }, 400, /ambiguous IPv4/],
  ['octal dotted IPv4', { url: 'http://0177.0.0.1:8080/x' }, 400, /ambiguous IPv4/],
  ['short IPv4', { url: 'http://127.1:8080/x' }, 400, /ambiguous IPv4/],
  ['IPv6 zone', { url: 'http://[fe80::1%25lo]:9000/x' }, 400, /zone/],
  // authority
  ['empty port', { url: `${GH}:/x` }, 400, /invalid port/],
  ['port zero', { url: `${GH}:0/x` }, 400, /invalid port/],
  ['port with leading zero', { url: `${GH}:0443/x` }, 400, /invalid port/],
  ['port out of range', { url: `${GH}:65536/x` }, 400, /invalid port/],
  ['two ports', { url: `${GH}:443:443/x` }, 400, /malformed target authority/],
  ['empty authority', { url: 'https:///x' }, 400, /empty target authority/],
  // scheme and forms
  ['unknown scheme', { url: `ftp://${H}/x` }, 400, /unknown scheme "ftp"/],
  ['javascript scheme', { url: 'javascript://x.com/%0aalert(1)' }, 400, /unknown scheme/],
  ['scheme without //', { url: `https:${H}/x` }, 400, /not an absolute http\(s\) URL|not a proxy request/],
  ['fragment', { url: `${GH}/public/x#frag` }, 400, /fragment/],
  ['fragment in query', { url: `${GH}/public/x?a=1#frag` }, 400, /fragment/],
  ['asterisk form', { url: '*', method: 'OPTIONS' }, 400, /asterisk-form/],
  ['origin form, not a route prefix', { url: '/public/x', rawHeaders: ['Host', H] }, 400, /not a proxy request/],
  ['origin form via route listener', { via: 'route', url: '/x' }, 400, /not a proxy request/],
  ['route prefix without a name', { via: 'route', url: '/t//x' }, 400, /needs a tool name/],
  ['route prefix, unknown tool', { via: 'route', url: '/t/nope/x' }, 404, /no tool named "nope"/],
  ['route prefix, encoded tool name', { via: 'route', url: '/t/git%68ub/x' }, 404, /no tool named/],
  ['route prefix, wildcard tool without base_url', { via: 'route', url: '/t/wild/x' }, 404, /no base_url/],
  ['route prefix, .. out of the prefix', { via: 'route', url: '/t/v1api/../../admin' }, 400, /above the root/],
  ['route prefix, encoded slash', { via: 'route', url: '/t/github/admin%2fx' }, 400, /encoded "\/"/],
  ['CONNECT method outside a tunnel request', { method: 'CONNECT', url: `${H}:443` }, 400, /CONNECT is only accepted as a tunnel request/],
  ['invalid method token', { method: 'GE T', url: `${GH}/public/x` }, 400, /invalid request method/],
  // paths
  ['encoded slash', { url: `${GH}/public%2f..%2fadmin` }, 400, /encoded "\/"/],
  ['encoded dot segment', { url: `${GH}/public/%2e%2e/admin/x` }, 400, /encoded dot segment/],
  ['mixed-case encoded dot segment', { url: `${GH}/public/%2E./admin/x` }, 400, /encoded dot segment/],
  ['encoded backslash', { url: `${GH}/public%5c..%5cadmin` }, 400, /encoded "\\"/],
  ['raw backslash', { url: `${GH}/public\\..\\admin` }, 400, /backslash/],
  ['encoded NUL', { url: `${GH}/public/x%00.json` }, 400, /control character/],
  ['encoded CRLF', { url: `${GH}/public/x%0d%0aHost:%20evil` }, 400, /control character/],
  ['overlong slash', { url: `${GH}/public/x%c0%afadmin` }, 400, /not valid UTF-8/],
  ['overlong dot', { url: `${GH}/public/%c0%ae%c0%ae/admin` }, 400, /not valid UTF-8/],
  ['double slash', { url: `${GH}//admin/x` }, 400, /empty path segment/],
  ['dot-dot above root', { url: `${GH}/../admin` }, 400, /above the root/],
  ['servlet path parameter', { url: `${GH}/public/..;/admin/x` }, 400, /";" parameters/],
  ['control character in query', { url: `${GH}/public/x?a=\u0001` }, 400, /query/],
  // framing
  ['Content-Length with Transfer-Encoding', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Content-Length', '4', 'Transfer-Encoding', 'chunked'] }, 400, /both Content-Length and Transfer-Encoding/],
  ['Transfer-Encoding then Content-Length', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'chunked', 'Content-Length', '0'] }, 400, /both Content-Length and Transfer-Encoding/],
  ['two differing Content-Length', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Content-Length', '4', 'Content-Length', '5'] }, 400, /different values/],
  ['Content-Length list', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Content-Length', '4, 5'] }, 400, /not a decimal number/],
  ['negative Content-Length', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Content-Length', '-1'] }, 400, /not a decimal number/],
  ['Transfer-Encoding gzip', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'gzip'] }, 400, /other than exactly "chunked"/],
  ['Transfer-Encoding gzip, chunked', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'gzip, chunked'] }, 400, /other than exactly "chunked"/],
  ['Transfer-Encoding chunked twice', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'] }, 400, /other than exactly "chunked"/],
  ['Transfer-Encoding empty', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', ''] }, 400, /other than exactly "chunked"/],
  ['Transfer-Encoding with junk', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'xchunked'] }, 400, /other than exactly "chunked"/],
  // header syntax
  ['header name with space', { url: `${GH}/public/x`, rawHeaders: ['X Bad', 'v'] }, 400, /invalid character in a header name/],
  ['header name with colon', { url: `${GH}/public/x`, rawHeaders: ['X:Bad', 'v'] }, 400, /invalid character in a header name/],
  ['empty header name', { url: `${GH}/public/x`, rawHeaders: ['', 'v'] }, 400, /invalid character in a header name/],
  ['header value with CR LF', { url: `${GH}/public/x`, rawHeaders: ['X-A', 'a\r\nHost: evil.com'] }, 400, /invalid character in the value of header X-A/],
  ['header value with NUL', { url: `${GH}/public/x`, rawHeaders: ['X-A', 'a\u0000b'] }, 400, /invalid character in the value/],
  ['header value beyond latin1', { url: `${GH}/public/x`, rawHeaders: ['X-A', 'a\u2028b'] }, 400, /invalid character in the value/],
  ['odd header list', { url: `${GH}/public/x`, rawHeaders: ['X-A'] }, 400, /malformed header list/],
  ['Connection naming Host', { url: `${GH}/public/x`, rawHeaders: ['Connection', 'host'] }, 400, /Connection header names host/],
  ['Connection naming Content-Length', { method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Content-Length', '1', 'Connection', 'Content-Length'] }, 400, /names content-length/],
  ['Connection with a bad token', { url: `${GH}/public/x`, rawHeaders: ['Connection', 'a b'] }, 400, /invalid token in Connection/],
  // task header
  ['two differing toolgate-task', { url: `${GH}/public/x`, rawHeaders: ['toolgate-task', 'a', 'Toolgate-Task', 'b'] }, 400, /different values/],
  ['empty toolgate-task', { url: `${GH}/public/x`, rawHeaders: ['toolgate-task', ''] }, 400, /invalid toolgate-task/],
  // size
  ['oversized headers', { url: `${GH}/public/x`, rawHeaders: ['X-Big', 'a'.repeat(3000)] }, 431, /exceed 2048 bytes/],
  ['many small headers', { url: `${GH}/public/x`, rawHeaders: Array.from({ length: 400 }, (_, i) => [`X-${i}`, 'v']).flat() }, 431, /exceed/],
  // CONNECT
  ['CONNECT with a path', { via: 'connect', method: 'CONNECT', url: `${H}:443/x` }, 400, /without path/],
  ['CONNECT with a scheme', { via: 'connect', method: 'CONNECT', url: `https://${H}:443` }, 400, /without path, query or scheme/],
  ['CONNECT without port', { via: 'connect', method: 'CONNECT', url: H }, 400, /must name a port/],
  ['CONNECT with userinfo', { via: 'connect', method: 'CONNECT', url: `u@${H}:443` }, 400, /userinfo/],
  ['CONNECT with hex IP', { via: 'connect', method: 'CONNECT', url: '0x7f.0.0.1:443' }, 400, /ambiguous IPv4/],
  ['CONNECT whose Host disagrees', { via: 'connect', method: 'CONNECT', url: `${H}:443`, rawHeaders: ['Host', 'evil.com:443'] }, 400, /disagrees with the CONNECT target/],
  ['GET via the connect path', { via: 'connect', method: 'GET', url: `${H}:443` }, 400, /CONNECT is only accepted/],
  // tunnels and transparent
  ['intercepted: Host disagrees with tunnel', { via: 'intercepted', url: '/public/x', rawHeaders: ['Host', 'evil.com'], tunnelAuthority: { host: H, port: 443, scheme: 'https' } }, 400, /disagrees with the tunnel/],
  ['intercepted: Host port disagrees with tunnel', { via: 'intercepted', url: '/public/x', rawHeaders: ['Host', `${H}:8443`], tunnelAuthority: { host: H, port: 443, scheme: 'https' } }, 400, /disagrees with the tunnel/],
  ['intercepted: absolute target disagrees with tunnel', { via: 'intercepted', url: 'https://evil.com/x', rawHeaders: ['Host', 'evil.com'], tunnelAuthority: { host: H, port: 443, scheme: 'https' } }, 400, /disagrees with the tunnel/],
  ['intercepted: absolute http target in a TLS tunnel', { via: 'intercepted', url: `http://${H}:443/x`, tunnelAuthority: { host: H, port: 443, scheme: 'https' } }, 400, /disagrees with the tunnel/],
  ['transparent: no Host', { via: 'transparent', url: '/x' }, 400, /Host header is required/],
  ['transparent: two Host', { via: 'transparent', url: '/x', rawHeaders: ['Host', '127.0.0.1:8080', 'Host', 'evil.com'] }, 400, /more than one Host/],
]

t.test('refusals: status, precise reason, an id, and never a ToolCall', async (t) => {
  for (const [name, raw, status, reason] of refusals) {
    const before = n
    const c = run(raw)
    t.equal(c.ok, false, `${name}: refused`)
    if (c.ok) continue
    t.equal(c.status, status, `${name}: status ${c.status}`)
    t.match(c.reason, reason, `${name}: ${c.reason}`)
    t.equal(c.id, `id-${before + 1}`, `${name}: one id from newId`)
    t.equal(c.partial?.id, c.id)
  }
})

t.test('forward: canonical ToolCall and the exact upstream request', async (t) => {
  const c = run({ method: 'POST', url: 'HTTPS://API.GitHub.com.:443/repos/acme/%61pp/./issues?state=open&q=a%20b', rawHeaders: ['Host', 'api.github.com.', 'Content-Type', 'application/json', 'Content-Length', '2', 'Authorization', 'Bearer agent-secret-123', 'Cookie', 'sid=cookie-secret-456', 'User-Agent', 'curl/8', 'X-Custom', 'kept'] })
  t.ok(c.ok)
  if (!c.ok) return
  t.same(c.call.target, { scheme: 'https', host: 'api.github.com', hostIsIp: false, port: 443, path: '/repos/acme/app/issues', query: 'state=open&q=a%20b' })
  t.equal(c.call.via, 'forward')
  t.equal(c.call.tool, 'github')
  t.same(c.call.route, { index: 0, name: null, pattern: '/repos/{owner}/{repo}/issues', captures: { owner: 'acme', repo: 'app' }, upgrade: false })
  t.equal(c.call.access, 'write')
  t.same(c.call.headers, { 'content-type': 'application/json', 'content-length': '2', 'user-agent': 'curl/8' })
  t.equal(c.routeMatch?.kind, 'route')
  t.equal(c.tool?.name, 'github')
  t.same(c.upstream, {
    origin: 'https://api.github.com:443',
    path: '/repos/acme/app/issues?state=open&q=a%20b',
    method: 'POST',
    headers: [['host', 'api.github.com'], ['Content-Type', 'application/json'], ['Content-Length', '2'], ['Authorization', 'Bearer agent-secret-123'], ['Cookie', 'sid=cookie-secret-456'], ['User-Agent', 'curl/8'], ['X-Custom', 'kept']],
  })
  // The policy view never carries credentials or cookies.
  const policyView = JSON.stringify(c.call)
  t.notMatch(policyView, /agent-secret-123|cookie-secret-456/, 'no secret in the ToolCall')
})

t.test('Host absent on absolute form: written from the target, default port omitted', async (t) => {
  let c = run({ url: 'http://127.0.0.1:8080/a/b' })
  t.ok(c.ok)
  if (c.ok) {
    t.same(c.upstream.headers, [['host', '127.0.0.1:8080']])
    t.equal(c.call.target.hostIsIp, true)
  }
  c = run({ url: `${GH}` })
  t.ok(c.ok && c.call.target.path === '/' && c.upstream.path === '/' && c.upstream.headers[0]![1] === H, 'empty path is /')
  c = run({ url: 'http://[0:0::1]:9000/x?' })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.target.host, '::1')
    t.equal(c.call.tool, 'v6')
    t.equal(c.upstream.origin, 'http://[::1]:9000')
    t.same(c.upstream.headers, [['host', '[::1]:9000']])
    t.equal(c.upstream.path, '/x', 'an empty query is dropped')
  }
})

t.test('Host that agrees in another spelling is accepted and rewritten canonically', async (t) => {
  const c = run({ url: `${GH}/public/x`, rawHeaders: ['HOST', 'API.GITHUB.COM.:443'] })
  t.ok(c.ok)
  if (c.ok) t.same(c.upstream.headers, [['host', H]])
})

t.test('hop-by-hop, Connection-listed, proxy and task headers are removed; one Content-Length', async (t) => {
  const c = run({
    method: 'POST',
    url: `${GH}/public/x`,
    rawHeaders: [
      'Connection', 'keep-alive, X-Hop',
      'Keep-Alive', 'timeout=5',
      'Proxy-Connection', 'keep-alive',
      'Proxy-Authorization', 'Basic proxy-secret-789',
      'TE', 'trailers',
      'Trailer', 'X-T',
      'Upgrade', 'h2c',
      'Expect', '100-continue',
      'X-Hop', 'dropped',
      'toolgate-task', 'task-1',
      'Content-Length', '3',
      'content-length', '3',
      'X-End', 'kept',
    ],
  })
  t.ok(c.ok)
  if (!c.ok) return
  t.same(c.upstream.headers, [['host', H], ['Content-Length', '3'], ['X-End', 'kept']])
  t.equal(c.call.taskId, 'task-1')
  t.equal(c.call.upgrade, false, 'Upgrade without Connection: upgrade is not an upgrade request')
  t.notMatch(JSON.stringify(c), /proxy-secret-789/, 'Proxy-Authorization is nowhere in the result')
})

t.test('Transfer-Encoding: chunked is accepted and not forwarded (the forwarder re-frames the body)', async (t) => {
  const c = run({ method: 'POST', url: `${GH}/public/x`, rawHeaders: ['Transfer-Encoding', 'Chunked'] })
  t.ok(c.ok)
  if (c.ok) t.same(c.upstream.headers, [['host', H]])
})

t.test('identical repeated toolgate-task values are one task', async (t) => {
  const c = run({ url: `${GH}/public/x`, rawHeaders: ['toolgate-task', 'abc', 'toolgate-task', ' abc '] })
  t.ok(c.ok && c.call.taskId === 'abc')
})

t.test('upgrade: kept only when the matched route allows it', async (t) => {
  const ws = ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k', 'Sec-WebSocket-Version', '13']
  let c = run({ url: `${GH}/ws`, rawHeaders: ws })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.upgrade, true)
    t.equal(c.call.route?.upgrade, true)
    t.same(c.upstream.headers, [['host', H], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'k'], ['Sec-WebSocket-Version', '13'], ['connection', 'upgrade']])
  }
  c = run({ url: `${GH}/public/ws`, rawHeaders: ws })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.upgrade, true, 'the request still says it wants an upgrade (the pipeline denies it)')
    t.same(c.upstream.headers, [['host', H], ['Sec-WebSocket-Key', 'k'], ['Sec-WebSocket-Version', '13']], 'no Upgrade/Connection upstream')
  }
})

t.test('no tool, no route, deny rule: classified (the decision is decide/\'s), with the match attached', async (t) => {
  let c = run({ url: 'https://evil.com/x' })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.tool, null)
    t.equal(c.tool, null)
    t.equal(c.routeMatch, null)
    t.equal(c.call.access, null)
  }
  c = run({ url: `${GH}/public/../admin/users` })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.target.path, '/admin/users', 'dot segments resolved before matching')
    t.same(c.routeMatch, { kind: 'denied', rule: 0, reason: 'admin is off limits' })
    t.equal(c.call.route, null)
  }
  c = run({ method: 'DELETE', url: `${GH}/repos/a/b/issues` })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.routeMatch?.kind, 'none')
    if (c.routeMatch?.kind === 'none') t.match(c.routeMatch.nearMisses[0], /matches the path but not method DELETE/)
  }
  c = run({ url: 'http://api.github.com/public/x' })
  t.ok(c.ok && c.call.tool === null, 'http:// does not match an https tool')
  c = run({ url: 'https://github.com/public/x' })
  t.ok(c.ok && c.call.tool === null, 'a different host does not match')
})

t.test('route prefix: /t/<tool>/<rest> goes to the base URL; Host (toolgate) is ignored', async (t) => {
  let c = run({ via: 'route', method: 'POST', url: '/t/github/repos/acme/app/issues?x=1', rawHeaders: ['Host', '127.0.0.1:15001', 'Content-Length', '2'] })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.via, 'route')
    t.equal(c.call.tool, 'github')
    t.same(c.call.target, { scheme: 'https', host: H, hostIsIp: false, port: 443, path: '/repos/acme/app/issues', query: 'x=1' })
    t.same(c.upstream, { origin: 'https://api.github.com:443', path: '/repos/acme/app/issues?x=1', method: 'POST', headers: [['host', H], ['Content-Length', '2']] })
  }
  c = run({ via: 'forward', url: '/t/v1api/users/../me' })
  t.ok(c.ok, 'origin form on the forward listener is a route prefix too')
  if (c.ok) {
    t.equal(c.call.via, 'route')
    t.equal(c.call.target.path, '/v1/me', 'base path prefix joined with the normalised rest')
    t.equal(c.upstream.path, '/v1/me')
    t.equal(c.routeMatch?.kind, 'route', 'a tool without routes allows every path')
  }
  c = run({ via: 'route', url: '/t/v1api' })
  t.ok(c.ok && c.call.target.path === '/v1/', '/t/<tool> alone is the base path')
  c = run({ via: 'route', url: '/t/v1api?a=1' })
  t.ok(c.ok && c.call.target.path === '/v1/' && c.call.target.query === 'a=1')
  c = run({ via: 'route', url: '/t/github/admin/x' })
  t.ok(c.ok && c.routeMatch?.kind === 'denied', 'deny rules apply to route prefixes')
  c = run({ via: 'route', url: '/t/github/public/x', rawHeaders: ['Host', 'a', 'Host', 'b'] })
  t.ok(!c.ok && c.status === 400, 'duplicate Host is refused on route prefixes too')
})

t.test('CONNECT: host:port, canonicalised, matched on https + host + port', async (t) => {
  let c = classify({ via: 'connect', method: 'CONNECT', url: 'FILES.example.com.:443', rawHeaders: ['Host', 'files.example.com:443', 'Proxy-Authorization', 'Basic x'] }, opts)
  t.ok(c.ok)
  if (c.ok) {
    t.same(c.call.target, { scheme: 'https', host: 'files.example.com', hostIsIp: false, port: 443, path: '', query: '' })
    t.equal(c.call.via, 'connect')
    t.equal(c.call.method, 'CONNECT')
    t.equal(c.call.tool, 'tunnel')
    t.equal(c.routeMatch, null, 'a tunnel has no route')
    t.equal(c.call.access, 'read', "the tool's access class")
    t.same(c.call.labels, { kind: 'files' })
    t.equal(c.upstream.origin, 'https://files.example.com:443')
    t.same(c.upstream.headers, [])
  }
  c = classify({ via: 'connect', method: 'CONNECT', url: 'files.example.com:8443', rawHeaders: [] }, opts)
  t.ok(c.ok && c.call.tool === null, 'another port is another destination')
  c = classify({ via: 'connect', method: 'CONNECT', url: '127.0.0.1:8080', rawHeaders: [] }, opts)
  t.ok(c.ok && c.call.tool === null, 'an http tool does not match a CONNECT (https)')
  c = classify({ via: 'connect', method: 'CONNECT', url: '[::1]:9000', rawHeaders: ['Host', '[::1]:9000'] }, opts)
  t.ok(c.ok && c.call.target.host === '::1' && c.call.target.hostIsIp)
  c = classify({ via: 'connect', method: 'CONNECT', url: `${H}:443`, rawHeaders: ['Host', H] }, opts)
  t.ok(c.ok, 'a Host without port agrees with the CONNECT port')
})

t.test('intercepted and transparent: destination from Host, bound to the tunnel', async (t) => {
  const tunnelAuthority = { host: H, port: 443, scheme: 'https' as const }
  let c = run({ via: 'intercepted', url: '/repos/a/b/issues', rawHeaders: ['Host', H], tunnelAuthority })
  t.ok(c.ok)
  if (c.ok) {
    t.equal(c.call.via, 'intercepted')
    t.same(c.call.target, { scheme: 'https', host: H, hostIsIp: false, port: 443, path: '/repos/a/b/issues', query: '' })
    t.equal(c.call.tool, 'github')
  }
  c = run({ via: 'intercepted', url: '/public/x', tunnelAuthority })
  t.ok(c.ok && c.call.target.host === H, 'Host absent: the tunnel authority')
  c = run({ via: 'intercepted', url: `${GH}/public/x`, rawHeaders: ['Host', H], tunnelAuthority })
  t.ok(c.ok && c.call.via === 'intercepted', 'absolute form inside the tunnel, agreeing')
  c = run({ via: 'intercepted', url: '/public/x', rawHeaders: ['Host', 'API.github.com'], tunnelAuthority: { host: 'api.GITHUB.com.', port: 443, scheme: 'https' } })
  t.ok(c.ok, 'tunnel authority (SNI) compared in canonical form')
  c = run({ via: 'transparent', url: '/x?y=1', rawHeaders: ['Host', '127.0.0.1:8080'] })
  t.ok(c.ok)
  if (c.ok) {
    t.same(c.call.target, { scheme: 'http', host: '127.0.0.1', hostIsIp: true, port: 8080, path: '/x', query: 'y=1' })
    t.equal(c.call.tool, 'echo')
    t.equal(c.call.via, 'transparent')
  }
})

t.test('ids come from newId, one per request', async (t) => {
  const ids: string[] = []
  const o = { ...opts, newId: () => { const id = `x${ids.length}`; ids.push(id); return id } }
  const a = classify({ via: 'forward', method: 'GET', url: `${GH}/public/x`, rawHeaders: [] }, o)
  const b = classify({ via: 'forward', method: 'GET', url: 'ftp://x/', rawHeaders: [] }, o)
  t.same(ids, ['x0', 'x1'])
  t.equal(a.ok && a.call.id, 'x0')
  t.equal(!b.ok && b.id, 'x1')
})

t.test('policy headers: a fixed safe selection, bounded', async (t) => {
  const c = run({ url: `${GH}/public/x`, rawHeaders: ['Accept', 'a/b', 'accept', 'c/d', 'X-Request-Id', 'r1', 'X-Api-Key', 'key-secret-000', 'Authorization', 'Bearer s', 'Cookie', 'c=1', 'User-Agent', 'u'.repeat(1500)] })
  t.ok(c.ok)
  if (!c.ok) return
  t.same(Object.keys(c.call.headers).sort(), ['accept', 'user-agent', 'x-request-id'])
  t.equal(c.call.headers['accept'], 'a/b, c/d')
  t.equal(c.call.headers['user-agent']!.length, 1024)
  t.notMatch(JSON.stringify(c.call), /key-secret-000/)
})
