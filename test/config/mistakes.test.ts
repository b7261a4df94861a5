// Each kind of config mistake gives its precise message at the right file:line:col and field.
// Table-driven: one YAML text per mistake (kept otherwise valid, so it is the only error).
import t from 'tap'
import { parseConfigText } from '../../proxy/src/config/load.ts'
import type { ConfigError } from '../../proxy/src/config/errors.ts'

const FILE = '/etc/toolgate/toolgate.yaml'

interface Case {
  name: string
  yaml: string
  line: number
  column: number
  path: string
  message: RegExp
}

// A valid tool, indented for use under `tools:`.
const TOOL = `  - name: api
    match: { host: api.example.com }
    routes:
      - { path: /x }
`

const cases: Case[] = [
  {
    name: 'unknown top-level field, with a suggestion',
    yaml: `version: 1\nlistners: {}\ntools:\n${TOOL}`,
    line: 2, column: 1, path: 'listners',
    message: /^unknown field 'listners' \(did you mean 'listeners'\?\)$/,
  },
  {
    name: 'unknown nested field, pointed at the key',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com, prot: 8443 }\n`,
    line: 4, column: 37, path: 'tools[0].match.prot',
    message: /^unknown field 'prot' \(did you mean 'port'\?\)$/,
  },
  {
    name: 'enum value with a typo',
    yaml: `version: 1\nmode: enforcing\ntools:\n${TOOL}`,
    line: 2, column: 7, path: 'mode',
    message: /^expected one of: enforce, report; got the string "enforcing" \(did you mean 'enforce'\?\)$/,
  },
  {
    name: 'wrong type (a quoted number)',
    yaml: `version: 1\ntools:\n  - name: api\n    match:\n      host: api.example.com\n      port: "8443"\n`,
    line: 6, column: 13, path: 'tools[0].match.port',
    message: /^expected an integer, got the string "8443"$/,
  },
  {
    name: 'number out of range',
    yaml: `version: 1\nlisteners:\n  proxy: { port: 70000 }\ntools:\n${TOOL}`,
    line: 3, column: 18, path: 'listeners.proxy.port',
    message: /^must be <= 65535, got 70000$/,
  },
  {
    name: 'missing required field, at the mapping that lacks it',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { scheme: https }\n`,
    line: 4, column: 5, path: 'tools[0].match',
    message: /^missing required field 'host'$/,
  },
  {
    name: 'a wgetrc without the CA bundle it points at',
    yaml: `version: 1\ntls:\n  ca: { publish_wgetrc_to: /run/ca/wgetrc }\ntools:\n${TOOL}`,
    line: 3, column: 7, path: 'tls.ca',
    message: /^must have property publish_cert_to when property publish_wgetrc_to is present$/,
  },
  {
    name: 'unsupported version',
    yaml: `version: 2\ntools:\n${TOOL}`,
    line: 1, column: 10, path: 'version',
    message: /^must be 1, got number 2$/,
  },
  {
    name: 'tool name not lower-case',
    yaml: `version: 1\ntools:\n  - name: GitHub\n    match: { host: api.github.com }\n`,
    line: 3, column: 11, path: 'tools[0].name',
    message: /^invalid value "GitHub": names use lower-case letters/,
  },
  {
    name: 'lower-case HTTP method',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    routes:\n      - { methods: [GET, post], path: /x }\n`,
    line: 6, column: 26, path: 'tools[0].routes[0].methods[1]',
    message: /^invalid value "post": an HTTP method in upper case .* \(did you mean 'POST'\?\)$/,
  },
  {
    name: 'unknown credential provider type',
    yaml: `version: 1\ncredentials:\n  gh:\n    type: statik\n    secret_file: token\ntools:\n${TOOL}`,
    line: 4, column: 11, path: 'credentials.gh.type',
    message: /^unknown type 'statik': expected one of: static, oauth2_client_credentials, token_exchange, jwt \(did you mean 'static'\?\)$/,
  },
  {
    name: 'invalid label key',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    labels:\n      "team name": x\n`,
    line: 6, column: 7, path: 'tools[0].labels["team name"]',
    message: /^invalid key "team name": label keys use/,
  },
  {
    name: 'not a URL',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    base_url: api.example.com/v1\n`,
    line: 5, column: 15, path: 'tools[0].base_url',
    message: /^expected an absolute URL/,
  },
  {
    name: 'YAML syntax error',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com\n`,
    line: 5, column: 1, path: 'tools[0].match.host',
    message: /^YAML syntax error: /,
  },
  {
    name: 'duplicate key',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    name: other\n`,
    line: 5, column: 5, path: 'tools[0].name',
    message: /^duplicate key 'name': each key may appear once in a mapping$/,
  },
  {
    name: 'more than one document',
    yaml: `version: 1\ntools:\n${TOOL}---\nversion: 1\n`,
    line: 7, column: 1, path: '',
    message: /^more than one YAML document/,
  },
  {
    name: 'root is not a mapping',
    yaml: `- version: 1\n`,
    line: 1, column: 1, path: '',
    message: /^the document must be a mapping .*found a list$/,
  },
  {
    name: 'empty file',
    yaml: `# nothing here\n`,
    line: 1, column: 1, path: '',
    message: /^the file is empty/,
  },
  {
    name: 'alias expansion bomb',
    yaml: `version: 1\nx0: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nx1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nx3: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ntools: []\n`,
    line: 3, column: 9, path: 'x1[0]',
    message: /^aliases expand to too many nodes \(limit 100\)/,
  },
  {
    name: 'custom YAML tag',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: !env API_HOST }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^unsupported YAML tag '!env'/,
  },
  {
    name: 'duplicate tool name',
    yaml: `version: 1\ntools:\n${TOOL}  - name: api\n    match: { host: other.example.com }\n`,
    line: 7, column: 11, path: 'tools[1].name',
    message: /^duplicate tool name 'api' \(already used by tools\[0\]\)$/,
  },
  {
    name: 'credential provider not defined',
    yaml: `version: 1\ncredentials:\n  github-token: { type: static, secret_file: token }\ntools:\n  - name: api\n    match: { host: api.github.com }\n    credential: { provider: github-tokn }\n`,
    line: 7, column: 29, path: 'tools[0].credential.provider',
    message: /^credential provider 'github-tokn' is not defined under credentials \(defined: github-token\) \(did you mean 'github-token'\?\)$/,
  },
  {
    name: 'passthrough tool with a credential',
    yaml: `version: 1\ncredentials:\n  t: { type: static, secret_file: token }\ntools:\n  - name: api\n    match: { host: api.example.com }\n    passthrough: true\n    credential: { provider: t }\n`,
    line: 8, column: 5, path: 'tools[0].credential',
    message: /^a passthrough tool is tunnelled without inspection .* so it cannot get a credential$/,
  },
  {
    name: 'CIDR with host bits set',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.internal }\n    allow_addresses: [10.1.2.3/8]\n`,
    line: 5, column: 23, path: 'tools[0].allow_addresses[0]',
    message: /^host bits are set in '10.1.2.3\/8' \(did you mean '10.0.0.0\/8'\?\)$/,
  },
  {
    name: 'not an IP in a CIDR',
    yaml: `version: 1\ntransparent:\n  exclude_cidrs: [10.0.0.0/8, 300.1.1.0/24]\ntools:\n${TOOL}`,
    line: 3, column: 31, path: 'transparent.exclude_cidrs[1]',
    message: /^'300.1.1.0' is not an IP address$/,
  },
  {
    name: 'wildcard not as the first label',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: "api.*.example.com" }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^a wildcard is allowed only as the whole first label/,
  },
  {
    name: 'port written into the host',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: "api.example.com:8443" }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^write only the host name: the port goes in match.port$/,
  },
  {
    name: 'host in upper case',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: API.Example.com }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^host names are compared in lower case: write 'api.example.com'$/,
  },
  {
    name: 'non-canonical IPv4 literal',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: "127.1" }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^not a canonical IP address/,
  },
  {
    name: 'a YAML number where text is expected',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: 127.1 }\n`,
    line: 4, column: 20, path: 'tools[0].match.host',
    message: /^expected a string, got number 127.1 \(write it in quotes to keep it as text\)$/,
  },
  {
    name: "'**' inside a segment",
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    routes:\n      - path: /files/a**\n`,
    line: 6, column: 15, path: 'tools[0].routes[0].path',
    message: /must be a whole segment/,
  },
  {
    name: 'duplicate capture name',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    deny:\n      - path: /a/{id}/b/{id}\n`,
    line: 6, column: 15, path: 'tools[0].deny[0].path',
    message: /\{id\} appears twice/,
  },
  {
    name: 'base_url outside the match',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    base_url: https://evil.example.net/v1\n`,
    line: 5, column: 15, path: 'tools[0].base_url',
    message: /^base_url host 'evil.example.net' is not covered by match.host 'api.example.com'$/,
  },
  {
    name: 'base_url with another scheme',
    yaml: `version: 1\ntools:\n  - name: api\n    match: { host: api.example.com }\n    base_url: http://api.example.com\n`,
    line: 5, column: 15, path: 'tools[0].base_url',
    message: /^base_url scheme 'http' differs from match.scheme 'https'$/,
  },
  {
    name: 'two listeners on one address',
    yaml: `version: 1\nlisteners:\n  admin: { host: 127.0.0.1, port: 15001 }\ntools:\n${TOOL}`,
    line: 3, column: 3, path: 'listeners.admin',
    message: /^listens on 127.0.0.1:15001, which listeners.proxy \(127.0.0.1:15001\) already uses$/,
  },
  {
    name: 'poll delays in the wrong order',
    yaml: `version: 1\npolicy:\n  poll: { min_delay_ms: 60000, max_delay_ms: 1000 }\ntools:\n${TOOL}`,
    line: 3, column: 46, path: 'policy.poll.max_delay_ms',
    message: /^max_delay_ms \(1000\) must be at least min_delay_ms \(60000\)$/,
  },
]

t.ok(cases.length >= 15, `${cases.length} distinct mistakes`)

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = parseConfigText(c.yaml, FILE, {})
    t.equal(r.ok, false, 'rejected')
    if (r.ok) return
    const summary = r.errors.map((e: ConfigError) => `${e.line}:${e.column} ${e.path}: ${e.message}`).join('\n')
    t.equal(r.errors.length, 1, `exactly one error:\n${summary}`)
    const e = r.errors[0]!
    t.equal(e.file, FILE)
    t.equal(`${e.line}:${e.column}`, `${c.line}:${c.column}`, `position of: ${summary}`)
    t.equal(e.path, c.path)
    t.match(e.message, c.message)
  })
}

t.test('more semantic rules', async (t) => {
  const errorsOf = (yaml: string): string[] => {
    const r = parseConfigText(yaml, 'x.yaml', {})
    return r.ok ? [] : r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)
  }
  t.match(errorsOf(`version: 1\ntools:\n  - name: a\n    match: { host: a.example.com }\n    passthrough: true\n    routes: [{ path: /x }]\n    deny: [{ path: /y }]\n`), [
    /^6:5 tools\[0\].routes: .*routes would never be checked$/,
    /^7:5 tools\[0\].deny: .*deny rules would never be checked$/,
  ])
  t.match(errorsOf(`version: 1\ntools:\n  - name: a\n    match: { scheme: http, host: a.example.com }\n    passthrough: true\n`), [/^5:18 tools\[0\].passthrough: passthrough applies to https tools only/])
  t.match(errorsOf(`version: 1\ntools:\n  - name: a\n    match: { host: a.example.com }\n    passthrough: true\n    mcp: { allow_tools: ["*"] }\n`), [/^6:5 tools\[0\].mcp: .*MCP rules would never be checked$/])
  t.match(errorsOf(`version: 1\ntasks: { default_ttl_s: 7200, max_ttl_s: 3600 }\ntools: []\n`), [/^2:25 tasks.default_ttl_s: default_ttl_s \(7200\) is longer than max_ttl_s \(3600\)$/])
  t.match(errorsOf(`version: 1\ntls:\n  ca: { cert_file: ca.crt }\ntools: []\n`), [/^3:3 tls.ca: cert_file and key_file go together/])
  t.match(errorsOf(`version: 1\npolicy: { bundle: "s3://bucket/b.tar.gz" }\ntools: []\n`), [/^2:19 policy.bundle: a bundle is a file path or an http\(s\):\/\/ URL$/])
  t.match(errorsOf(`version: 1\nlisteners:\n  proxy: { host: 0.0.0.0, port: 9000 }\n  admin: { host: 127.0.0.1, port: 9000 }\ntools: []\n`), [/^4:3 listeners.admin: listens on 127.0.0.1:9000, which listeners.proxy \(0.0.0.0:9000\) already uses$/])
  t.same(errorsOf(`version: 1\nlisteners:\n  proxy: { port: 0 }\n  admin: { port: 0 }\ntools: []\n`), [], 'port 0 never clashes')
  t.match(errorsOf(`version: 1\nbase: &base { methods: [GET], path: /x }\ntools: []\n`), [/^2:1 base: unknown field 'base' \(expected one of: version, mode, listeners, /], 'anchors must sit in known fields')
  t.same(errorsOf(`version: 1\ntools:\n  - name: a\n    match: { host: a.example.com }\n    routes:\n      - &r { methods: [GET], path: /x }\n  - name: b\n    match: { host: b.example.com }\n    routes: [*r]\n`), [], 'aliases and anchors within limits are fine')
})
