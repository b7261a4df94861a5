// End to end THROUGH TOOLGATE: a real MCP client (official SDK) talks to a real MCP server (SDK,
// Streamable HTTP, sessions, SSE responses) via toolgate's /t/<tool>/ route prefix, with the real
// policy engine running a real WASM bundle compiled here by the pinned OPA CLI (the default policy
// plus one Rego rule on tools/call arguments) and a static credential provider.

import t from 'tap'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startMcpServer } from './helpers/mcp-server.ts'
import { startTestToolgate, testConfig, testListeners } from '../helpers/toolgate.ts'
import { repoRoot, toolPath } from '../helpers/tools.ts'
import { createCredentialServices } from '../../proxy/src/credential/wiring.ts'
import { Metrics } from '../../proxy/src/record/metrics.ts'
import { createLogger } from '../../proxy/src/record/log.ts'


const AGENT_TOKEN = 'agent-token-must-not-pass-77aa'
const SERVER_SECRET = 'mcp-server-secret-5d2c'
const textOf = (r: unknown): string => (((r as { content?: unknown }).content as { text: string }[]) ?? []).map((c) => c.text).join('\n')

// The default policy plus an arguments rule, compiled to WASM with the pinned OPA CLI.
const dir = mkdtempSync(join(tmpdir(), 'toolgate-mcp-e2e-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const src = join(dir, 'policy')
cpSync(join(repoRoot, 'policy/src'), src, { recursive: true, filter: (p) => !p.endsWith('_test.rego') })
writeFileSync(join(src, 'toolgate', 'mcp_arguments.rego'), `package toolgate

deny contains "repository acme/secret is off limits" if {
	input.mcp.tool == "get_issue"
	input.mcp.arguments.repo == "acme/secret"
}
`)
const built = spawnSync(toolPath('opa'), ['build', '-b', src, '-t', 'wasm', '-e', 'toolgate/decision', '-o', join(dir, 'bundle.tar.gz')], { encoding: 'utf8' })
if (built.status !== 0) throw new Error(`opa build failed: ${built.stderr}`)
writeFileSync(join(dir, 'mcp.secret'), SERVER_SECRET, { mode: 0o600 })

const server = await startMcpServer({ json: false })
t.teardown(() => server.close())
const yaml = `version: 1
${testListeners}
policy:
  bundle: ${join(dir, 'bundle.tar.gz')}
  data: { task_required_for: [] }
credentials:
  mcp-secret: { type: static, secret_file: ${join(dir, 'mcp.secret')} }
tools:
  - name: issues-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${server.port} }
    routes:
      - { methods: [POST, GET, DELETE], path: "/mcp", access: read }
    credential: { provider: mcp-secret }
    mcp:
      path: /mcp
      allow_tools: ["get_*", "list_*", "echo", "slow_count", "admin_*"]
      deny_tools: ["delete_*", "admin_*"]
      tool_access: { "get_*": read, "list_*": read }
`
const config = testConfig(yaml, dir)
const metrics = new Metrics({ processMetrics: false })
const services = await createCredentialServices(config, { registry: metrics.registry, logger: createLogger({ level: 'error' }), records: { write: () => {} } })
const gate = await startTestToolgate(yaml, { metrics, services: { tasks: services.tasks, credentials: services.credentials, approvals: services.approvals } })
t.teardown(async () => { await gate.close(); await services.close() })

const client = new Client({ name: 'agent', version: '1.0.0' })
const transport = new StreamableHTTPClientTransport(new URL(`${gate.proxyUrl}/t/issues-mcp/mcp`), { requestInit: { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } })
t.teardown(() => client.close().catch(() => {}))

await t.test('the client connects through toolgate (initialize, session)', async (t) => {
  await client.connect(transport)
  t.equal(server.sessions.length, 1)
})

await t.test('allowed calls work', async (t) => {
  const r = await client.callTool({ name: 'get_issue', arguments: { repo: 'acme/app', number: 7 } })
  t.notOk(r.isError)
  t.equal(textOf(r), 'issue acme/app#7: it works')
})

await t.test('tools/list shows only allowed tools', async (t) => {
  const { tools } = await client.listTools()
  t.same(tools.map((x) => x.name).sort(), ['echo', 'get_issue', 'list_issues', 'slow_count'])
})

await t.test('denied calls come back as tool errors and never reach the server', async (t) => {
  const r = await client.callTool({ name: 'delete_repo', arguments: { repo: 'acme/app' } }).catch((e: Error) => ({ isError: 'thrown', content: [{ text: e.message }] }))
  t.equal(r.isError, true)
  t.match(textOf(r), /denied by toolgate/)
  t.notOk(server.calls.some((c) => c.name === 'delete_repo'))
  t.ok(gate.records.some((rec) => JSON.stringify(rec).includes('delete_repo')), 'the record names the MCP tool')
})

await t.test('a listed tool is decided again on call, by a Rego rule on its arguments', async (t) => {
  const r = await client.callTool({ name: 'get_issue', arguments: { repo: 'acme/secret', number: 1 } }).catch((e: Error) => ({ isError: 'thrown', content: [{ text: e.message }] }))
  t.equal(r.isError, true)
  t.match(textOf(r), /acme\/secret is off limits/)
  t.notOk(server.calls.some((c) => (c.args as { repo?: string }).repo === 'acme/secret'))
})

await t.test('streaming results arrive intact and in order', async (t) => {
  const progress: number[] = []
  const r = await client.callTool({ name: 'slow_count', arguments: { n: 20 } }, undefined, { onprogress: (p) => { progress.push(p.progress) } })
  t.equal(textOf(r), Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'))
  t.same(progress, Array.from({ length: 20 }, (_, i) => i + 1))
})

await t.test('the agent token never reaches the MCP server; the tool credential does', async (t) => {
  t.ok(server.requests.length > 3)
  t.notOk(JSON.stringify(server.requests).includes(AGENT_TOKEN), 'agent token not passed through')
  t.ok(server.requests.every((r) => r.authorization === `Bearer ${SERVER_SECRET}`), 'every request carried the injected credential')
  t.ok(server.requests.slice(1).every((r) => r.sessionId === server.sessions[0]), 'Mcp-Session-Id passed through')
  const everything = JSON.stringify(gate.records) + gate.logs.join('')
  t.notOk(everything.includes(SERVER_SECRET), 'secret not in records or logs')
  t.notOk(everything.includes(AGENT_TOKEN), 'agent token not in records or logs')
})
