// The string rules the schema cannot express: host patterns, CIDRs, base_url containment.
import t from 'tap'
import { cidrProblem, hostPatternProblem, pathPatternProblem } from '../../proxy/src/config/patterns.ts'
import { baseUrlProblem } from '../../proxy/src/config/semantic.ts'

t.test('host patterns', async (t) => {
  for (const ok of ['api.github.com', 'my-svc', '*.github.com', '*.svc.cluster.local', '10.0.0.1', '::1', 'fd00::1', 'xn--bcher-kva.example', 'api_v2.example.com', '_dmarc.example.com']) {
    t.equal(hostPatternProblem(ok), null, `${ok} is valid`)
  }
  const bad: Array<[string, RegExp]> = [
    ['https://api.github.com', /scheme goes in match.scheme/],
    ['api.github.com:443', /port goes in match.port/],
    ['api.github.com/repos', /paths go in routes/],
    ['[::1]', /write IPv6 literals without brackets: '::1'/],
    ['fe80::1%eth0', /zone ids/],
    ['API.github.com', /write 'api.github.com'/],
    ['api.github.com.', /remove the trailing dot: 'api.github.com'/],
    ['bücher.example', /ASCII \(punycode\) form 'xn--bcher-kva.example'/],
    ['*.bücher.example', /'\*.xn--bcher-kva.example'/],
    ['*.com', /every name under a top-level domain/],
    ['api.*.com', /whole first label/],
    ['*api.github.com', /whole first label/],
    ['**.github.com', /whole first label/],
    ['a..b', /empty label/],
    ['-api.github.com', /bad label "-api"/],
    ['api-.github.com', /bad label "api-"/],
    ['127.1', /not a canonical IP address/],
    ['0x7f.0.0.1', /not a canonical IP address/],
    ['010.0.0.1', /not a canonical IP address/],
    ['api github', /whitespace/],
  ]
  for (const [host, message] of bad) t.match(hostPatternProblem(host), message, host)
})

t.test('path patterns come from the allowlist compiler', async (t) => {
  for (const ok of ['/', '/**', '/repos/{owner}/{repo}', '/search/*', '/a/', '/v1/items/{id}/**']) t.equal(pathPatternProblem(ok), null, ok)
  for (const bad of ['/a/**/b/**', '/a//b', '/a/../b', '/a?x=1', '/{id}.json', '/a*', '/x/{a}/{a}']) t.not(pathPatternProblem(bad), null, bad)
})

t.test('CIDRs', async (t) => {
  for (const ok of ['10.0.0.0/8', '10.1.2.3', '10.1.2.3/32', '192.168.0.0/16', 'fd00::/8', '::1', '2001:db8::/32', '::ffff:10.0.0.0/104']) {
    t.equal(cidrProblem(ok, { allowZeroPrefix: false }), null, ok)
  }
  t.match(cidrProblem('10.1.2.3/8', { allowZeroPrefix: false }), /did you mean '10.0.0.0\/8'/)
  t.match(cidrProblem('2001:db8::1/32', { allowZeroPrefix: false }), /host bits are set in '2001:db8::1\/32': use the network address/)
  t.match(cidrProblem('10.0.0.0/33', { allowZeroPrefix: false }), /prefix length must be 0-32, got '33'/)
  t.match(cidrProblem('10.0.0.0/08', { allowZeroPrefix: false }), /prefix length/)
  t.match(cidrProblem('fd00::/129', { allowZeroPrefix: false }), /0-128/)
  t.match(cidrProblem('example.com/24', { allowZeroPrefix: false }), /'example.com' is not an IP address/)
  t.match(cidrProblem('0.0.0.0/0', { allowZeroPrefix: false }), /covers every address/)
  t.equal(cidrProblem('0.0.0.0/0', { allowZeroPrefix: true }), null, 'exclude_cidrs may say "everything"')
})

t.test('base_url must stay inside match', async (t) => {
  t.equal(baseUrlProblem('https://api.github.com', 'https', 'api.github.com', 443), null)
  t.equal(baseUrlProblem('https://api.github.com:443/v3/', 'https', 'api.github.com', 443), null, 'explicit default port and a path prefix')
  t.equal(baseUrlProblem('https://eu.warehouse.example.com', 'https', '*.warehouse.example.com', 443), null, 'under the wildcard')
  t.equal(baseUrlProblem('http://[::1]:8080', 'http', '::1', 8080), null, 'IPv6 literal')
  t.match(baseUrlProblem('https://warehouse.example.com', 'https', '*.warehouse.example.com', 443), /not covered/, 'the wildcard never covers the bare domain')
  t.match(baseUrlProblem('https://api.github.com.evil.net', 'https', 'api.github.com', 443), /not covered/)
  t.match(baseUrlProblem('https://api.github.com:8443', 'https', 'api.github.com', 443), /port 8443 differs from the match port 443/)
  t.match(baseUrlProblem('https://user:pw@api.github.com', 'https', 'api.github.com', 443), /must not contain credentials/)
  t.match(baseUrlProblem('https://api.github.com/?x=1', 'https', 'api.github.com', 443), /query or fragment/)
})
