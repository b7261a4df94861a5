// Loading: all errors at once, defaults, env-derived identity, the shipped configs, file errors,
// and the referenced-files check of `toolgate check` (which must never leak a secret).
import t from 'tap'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkReferencedFiles, EMBEDDED_CONFIG_PATH, loadConfigFile, loadEmbeddedConfig, parseConfigText } from '../../proxy/src/config/load.ts'
import { formatConfigErrors } from '../../proxy/src/config/errors.ts'
import { DEFAULT_APPROVALS, DEFAULT_LIMITS, DEFAULT_TASKS, DEFAULT_TIMEOUTS, DEFAULT_TLS } from '../../proxy/src/config/defaults.ts'
import { configSchema } from '../../proxy/src/config/schema-check.ts'
import { repoRoot } from '../helpers/tools.ts'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'toolgate-config-'))

const MINIMAL = `version: 1
tools:
  - name: api
    match: { host: api.example.com }
    routes:
      - path: /x
`

t.test('every error of a file is reported at once, sorted by position', async (t) => {
  const yaml = `version: 1
mode: strict
limits:
  max_header_bytes: 10
tools:
  - name: api
    match: { host: "API.example.com", colour: blue }
    credential: { provider: nope }
    routes:
      - { methods: [get], path: "/a/{x}/{x}" }
  - name: api
    match: { host: api.example.com }
`
  const r = parseConfigText(yaml, 'all.yaml', {})
  t.equal(r.ok, false)
  if (r.ok) return
  const lines = formatConfigErrors(r.errors).split('\n')
  t.same(lines.map((l) => l.split(': ').slice(0, 2).join(': ')), [
    'all.yaml:2:7: mode',
    'all.yaml:4:21: limits.max_header_bytes',
    'all.yaml:7:20: tools[0].match.host',
    'all.yaml:7:39: tools[0].match.colour',
    'all.yaml:8:29: tools[0].credential.provider',
    'all.yaml:10:21: tools[0].routes[0].methods[0]',
    'all.yaml:10:33: tools[0].routes[0].path',
    'all.yaml:11:11: tools[1].name',
  ], lines.join('\n'))
  t.match(lines.join('\n'), /limits.max_header_bytes: must be >= 1024, got 10/)
})

t.test('defaults are filled in', async (t) => {
  const dir = tmp()
  const r = parseConfigText(MINIMAL, join(dir, 'toolgate.yaml'), {})
  t.ok(r.ok)
  if (!r.ok) return
  const c = r.config
  t.equal(c.mode, 'enforce')
  t.same(c.listeners, { proxy: { host: '127.0.0.1', port: 15001 }, admin: { host: '127.0.0.1', port: 15000 }, control: { host: '127.0.0.1', port: 15004 } })
  t.same(c.limits, DEFAULT_LIMITS)
  t.same(c.timeouts, DEFAULT_TIMEOUTS)
  t.same(c.logging, { level: 'info', records: 'stdout', checkpoints: { interval_s: 60, every_records: 1000 } })
  t.same(c.policy, { bundle: { kind: 'embedded' }, entrypoint: 'toolgate/decision', poll: { min_delay_ms: 10000, max_delay_ms: 30000 }, data: {} })
  t.same(c.agent, { labels: {} })
  t.same(c.tasks, DEFAULT_TASKS)
  t.same(c.approvals, DEFAULT_APPROVALS)
  t.same(c.tls, DEFAULT_TLS)
  t.same([c.transparent, c.credentials], [{}, {}])
  t.equal(c.tools[0]?.match.host, 'api.example.com')
  t.equal(c.source.file, join(dir, 'toolgate.yaml'))
  t.equal(c.source.dir, dir)
  t.equal(c.source.text, MINIMAL)
  t.match(c.source.hash, /^[0-9a-f]{64}$/)
})

t.test('written values win over defaults; partial sections are merged; paths resolve against the config dir', async (t) => {
  const dir = tmp()
  const yaml = `version: 1
mode: report
listeners:
  proxy: { port: 0 }
  transparent_tls: {}
limits: { max_connections: 10 }
logging: { records: logs/decisions.jsonl }
policy:
  bundle: bundles/policy.tar.gz
  poll: { max_delay_ms: 90000 }
  signing: { public_key: keys/bundle.pem }
tools: []
`
  const r = parseConfigText(yaml, join(dir, 'toolgate.yaml'), {})
  t.ok(r.ok, r.ok ? '' : formatConfigErrors(r.errors))
  if (!r.ok) return
  const c = r.config
  t.equal(c.mode, 'report')
  t.same(c.listeners.proxy, { host: '127.0.0.1', port: 0 })
  t.same(c.listeners.transparent_tls, { host: '127.0.0.1', port: 15003 })
  t.equal(c.listeners.transparent_http, undefined, 'transparent_http stays off')
  t.equal(c.limits.max_connections, 10)
  t.equal(c.limits.max_header_bytes, DEFAULT_LIMITS.max_header_bytes)
  t.equal(c.logging.records, join(dir, 'logs/decisions.jsonl'))
  t.same(c.policy.bundle, { kind: 'file', path: join(dir, 'bundles/policy.tar.gz') })
  t.same(c.policy.poll, { min_delay_ms: 10000, max_delay_ms: 90000 })
  t.equal(c.policy.signing?.public_key, join(dir, 'keys/bundle.pem'))

  const http = parseConfigText(`version: 1\npolicy: { bundle: "https://bundles.example.com/b.tar.gz" }\ntools: []\n`, join(dir, 'x.yaml'), {})
  t.ok(http.ok)
  if (http.ok) t.same(http.config.policy.bundle, { kind: 'http', url: 'https://bundles.example.com/b.tar.gz' })
})

t.test('agent identity comes from the environment when the config leaves it out', async (t) => {
  const env = { POD_NAMESPACE: 'agents', POD_NAME: 'agent-7f9c', SERVICE_ACCOUNT: 'coder', SPIFFE_ID: 'spiffe://cluster.local/ns/agents/sa/coder' }
  const fromEnv = parseConfigText(MINIMAL, 'a.yaml', env)
  t.ok(fromEnv.ok)
  if (fromEnv.ok) t.same(fromEnv.config.agent, { namespace: 'agents', pod: 'agent-7f9c', service_account: 'coder', spiffe_id: 'spiffe://cluster.local/ns/agents/sa/coder', labels: {} })

  const written = parseConfigText(`version: 1\nagent: { namespace: fixed, labels: { team: a } }\ntools: []\n`, 'a.yaml', { ...env, POD_NAMESPACE: 'ignored' })
  t.ok(written.ok)
  if (written.ok) {
    t.equal(written.config.agent.namespace, 'fixed', 'the config wins')
    t.equal(written.config.agent.pod, 'agent-7f9c', 'absent fields still come from env')
    t.same(written.config.agent.labels, { team: 'a' })
  }
  const empty = parseConfigText(MINIMAL, 'a.yaml', { POD_NAME: '' })
  t.ok(empty.ok)
  if (empty.ok) t.equal(empty.config.agent.pod, undefined, 'an empty variable is not an identity')
})

t.test('the embedded default config is valid and used by loadEmbeddedConfig', async (t) => {
  const c = loadEmbeddedConfig({ POD_NAME: 'p' })
  t.equal(c.source.file, EMBEDDED_CONFIG_PATH)
  t.ok(c.tools.length >= 2)
  t.ok(c.tools.some((tool) => tool.match.host === 'api.github.com'), 'a GitHub API tool')
  t.ok(c.tools.some((tool) => tool.match.host === 'httpbin.org' && tool.match.scheme === 'http'), 'httpbin (README quick start)')
  t.ok(c.tools.some((tool) => (tool.deny ?? []).length > 0), 'shows deny rules')
  t.equal(c.agent.pod, 'p')
  t.same(c.policy.bundle, { kind: 'embedded' })
})

t.test('every example config is valid', async (t) => {
  const dir = join(repoRoot, 'config/examples')
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 3, `${files.length} examples`)
  for (const f of files) {
    const r = await loadConfigFile(join(dir, f), {})
    t.ok(r.ok, `${f}: ${r.ok ? 'valid' : formatConfigErrors(r.errors)}`)
  }
})

t.test("the schema's default annotations agree with the defaults applied", async (t) => {
  const r = parseConfigText(`version: 1\ntools: []\n`, 'd.yaml', {})
  t.ok(r.ok)
  if (!r.ok) return
  const c = r.config as unknown as Record<string, Record<string, unknown>>
  const defs = configSchema.definitions as Record<string, { properties: Record<string, { default?: unknown }> }>
  let checked = 0
  for (const [section, def] of [['limits', 'Limits'], ['timeouts', 'Timeouts'], ['logging', 'Logging'], ['listeners', 'Listeners'], ['policy', 'Policy'], ['tasks', 'Tasks'], ['approvals', 'Approvals'], ['tls', 'Tls']] as const) {
    for (const [field, prop] of Object.entries(defs[def]!.properties)) {
      if (prop.default === undefined) continue
      t.same(c[section]![field], prop.default, `${section}.${field}`)
      checked++
    }
  }
  for (const [field, prop] of Object.entries(defs.PolicyPoll!.properties)) {
    t.same((c.policy!.poll as Record<string, unknown>)[field], prop.default, `policy.poll.${field}`)
    checked++
  }
  const top = configSchema.properties as Record<string, { default?: unknown }>
  t.equal(c.mode, top.mode!.default as never)
  t.ok(checked >= 17, `${checked} defaults compared`)
})

t.test('file problems are ConfigErrors', async (t) => {
  const dir = tmp()
  const missing = await loadConfigFile(join(dir, 'nope.yaml'))
  t.same(missing.ok ? null : missing.errors, [{ file: join(dir, 'nope.yaml'), line: 0, column: 0, path: '', message: 'config file does not exist' }])
  const asDir = await loadConfigFile(dir)
  t.match(asDir.ok ? '' : asDir.errors[0]?.message, /is a directory/)
  writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x76, 0x3a, 0x20, 0xe9, 0x0a]))
  const latin1 = await loadConfigFile(join(dir, 'latin1.yaml'))
  t.match(latin1.ok ? '' : latin1.errors[0]?.message, /not valid UTF-8/)
  writeFileSync(join(dir, 'big.yaml'), Buffer.alloc(4 * 1024 * 1024 + 10, 0x20))
  const big = await loadConfigFile(join(dir, 'big.yaml'))
  t.match(big.ok ? '' : big.errors[0]?.message, /larger than 4194304 bytes/)
  writeFileSync(join(dir, 'ok.yaml'), '\uFEFF' + MINIMAL)
  const bom = await loadConfigFile(join(dir, 'ok.yaml'))
  t.ok(bom.ok, 'a UTF-8 byte order mark is accepted')
})

t.test('checkReferencedFiles: missing, unreadable and non-regular files, at their positions, secrets never read', async (t) => {
  const dir = tmp()
  const SECRET = 'ghp_SuperSecretTokenValue1234567890'
  mkdirSync(join(dir, 'secrets'))
  writeFileSync(join(dir, 'secrets/token'), SECRET)
  writeFileSync(join(dir, 'secrets/locked'), SECRET)
  chmodSync(join(dir, 'secrets/locked'), 0o000)
  writeFileSync(join(dir, 'ca.pem'), 'not checked for content')
  symlinkSync(join(dir, 'secrets/token'), join(dir, 'linked-token'))
  const yaml = `version: 1
logging: { records: no-such-dir/records.jsonl }
policy:
  signing: { public_key: keys/missing.pem }
tls:
  upstream_ca_files: [ca.pem, secrets]
credentials:
  good: { type: static, secret_file: secrets/token }
  linked: { type: static, secret_file: linked-token }
  absent: { type: static, secret_file: /nonexistent/toolgate/token }
  locked: { type: static, secret_file: secrets/locked }
tools:
  - name: api
    match: { host: api.example.com }
    ca_file: ca.pem
`
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, yaml)
  const r = await loadConfigFile(file, {})
  t.ok(r.ok, 'loading does not touch referenced files')
  if (!r.ok) return
  const errors = await checkReferencedFiles(r.config)
  const out = formatConfigErrors(errors)
  const asRoot = process.getuid?.() === 0 // root reads mode-000 files, so 'locked' is fine then
  const expected = [
    `${file}:2:21: logging.records: directory ${join(dir, 'no-such-dir')} does not exist`,
    `${file}:4:26: policy.signing.public_key: file ${join(dir, 'keys/missing.pem')} does not exist`,
    `${file}:6:31: tls.upstream_ca_files[1]: ${join(dir, 'secrets')} is not a regular file`,
    `${file}:10:40: credentials.absent.secret_file: file /nonexistent/toolgate/token does not exist`,
    ...(asRoot ? [] : [`${file}:11:40: credentials.locked.secret_file: file ${join(dir, 'secrets/locked')} is not readable by this process`]),
  ]
  t.equal(errors.length, expected.length, out)
  const lines = out.split('\n')
  expected.forEach((e, i) => t.ok(lines[i]?.startsWith(e), `${lines[i]}\n  starts with ${e}`))
  t.notMatch(out, SECRET, 'no secret content in errors')
})

t.test('trust settings: one key source per issuer, an audience, unique names; control port follows a free admin port', async (t) => {
  const dir = tmp()
  const bad = `${MINIMAL}tasks:
  issuers:
    - { name: orch, issuer: "https://o", jwks_url: "https://o/jwks", public_key_file: o.pem }
    - { name: orch, issuer: "https://p" }
approvals:
  approvers:
    - { name: corp, issuer: "https://c", jwks_url: "https://c/jwks" }
`
  const r = parseConfigText(bad, join(dir, 'toolgate.yaml'), {})
  t.notOk(r.ok)
  const messages = r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')
  t.match(messages, /give exactly one of jwks_url \(fetched, rotates\) or public_key_file \(mounted\)/)
  t.match(messages, /duplicate name 'orch'/)
  t.match(messages, /tasks.issuers needs tasks.audience/)
  t.match(messages, /approvals.approvers needs approvals.audience/)
  const same = parseConfigText(`${MINIMAL}tasks: { audience: x }\napprovals: { audience: x }\n`, join(dir, 'toolgate.yaml'), {})
  t.match(same.ok ? '' : same.errors.map((e) => e.message).join('\n'), /approvals.audience must differ from tasks.audience/)
  const free = parseConfigText(`${MINIMAL}listeners:\n  admin: { host: 127.0.0.1, port: 0 }\n`, join(dir, 'toolgate.yaml'), {})
  t.same(free.ok && free.config.listeners.control, { host: '127.0.0.1', port: 0 })
  const clash = parseConfigText(`${MINIMAL}listeners:\n  control: { host: 127.0.0.1, port: 15000 }\n`, join(dir, 'toolgate.yaml'), {})
  t.match(clash.ok ? '' : clash.errors.map((e) => e.message).join('\n'), /listeners.admin \(127.0.0.1:15000\) already uses/)
})
