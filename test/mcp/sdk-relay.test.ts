// Real MCP client and real MCP server (official SDK, Streamable HTTP, stateful sessions), with the
// classify/mcp modules between them in a TEST-ONLY relay (helpers/relay.ts) that calls them the
// way toolgate's pipeline is meant to. Run against both server response modes: JSON bodies and
// SSE streams. The same scenarios through toolgate itself are in toolgate-e2e.test.ts.
import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { startMcpServer, type McpFixture } from './helpers/mcp-server.ts'
import { startRelay, type Relay } from './helpers/relay.ts'

const AGENT_TOKEN = 'agent-token-must-not-pass-4f1c'
const SERVER_TOKEN = 'server-credential-9b7e'

const textOf = (r: unknown): string => (((r as { content?: unknown }).content as { type: string; text: string }[]) ?? []).map((c) => c.text).join('\n')

for (const mode of ['json', 'sse'] as const) {
  t.test(`through the relay, server answering with ${mode}`, async (t) => {
    const server: McpFixture = await startMcpServer({ json: mode === 'json' })
    const relay: Relay = await startRelay({
      upstreamPort: server.port,
      rules: { allow_tools: ['get_*', 'list_*', 'echo', 'slow_count', 'admin_*'], deny_tools: ['delete_*', 'admin_*'], tool_access: { 'get_*': 'read' } },
      // Stand-in for a Rego rule on arguments: the repository "acme/secret" is off limits.
      argumentRule: (name, args) => (name === 'get_issue' && (args as { repo?: string }).repo === 'acme/secret' ? 'policy: repository acme/secret is not allowed' : null),
      credential: SERVER_TOKEN,
    })
    const client = new Client({ name: 'agent', version: '1.0.0' })
    const listChanged: unknown[] = []
    client.setNotificationHandler(ToolListChangedNotificationSchema, (n) => { listChanged.push(n) })
    const transport = new StreamableHTTPClientTransport(new URL(relay.url), { requestInit: { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } })
    await client.connect(transport)
    t.teardown(async () => {
      await client.close().catch(() => {})
      await relay.close()
      await server.close()
    })

    await t.test('tools/list shows only allowed tools', async (t) => {
      const { tools } = await client.listTools()
      t.same(tools.map((x) => x.name).sort(), ['echo', 'get_issue', 'list_issues', 'slow_count'])
      t.ok(tools.find((x) => x.name === 'get_issue')?.inputSchema, 'kept tools are intact')
    })

    await t.test('allowed calls work', async (t) => {
      const r = await client.callTool({ name: 'get_issue', arguments: { repo: 'acme/app', number: 7 } })
      t.notOk(r.isError)
      t.equal(textOf(r), 'issue acme/app#7: it works')
      t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo ✓' } })), 'héllo ✓')
    })

    await t.test('denied calls come back as tool errors and never reach the server', async (t) => {
      const before = server.calls.length
      const r = await client.callTool({ name: 'delete_repo', arguments: { repo: 'acme/app' } })
      t.equal(r.isError, true)
      t.match(textOf(r), /denied by toolgate: MCP tool "delete_repo" matches deny_tools "delete_\*"/)
      t.equal(server.calls.length, before, 'server saw no call')
    })

    await t.test('a listed tool is still decided on call, with its arguments', async (t) => {
      const r = await client.callTool({ name: 'get_issue', arguments: { repo: 'acme/secret', number: 1 } })
      t.equal(r.isError, true)
      t.match(textOf(r), /policy: repository acme\/secret is not allowed/)
      t.notOk(server.calls.some((c) => (c.args as { repo?: string }).repo === 'acme/secret'))
    })

    await t.test('streaming results (progress notifications) arrive intact and in order', async (t) => {
      const progress: number[] = []
      const r = await client.callTool({ name: 'slow_count', arguments: { n: 20 } }, undefined, { onprogress: (p) => { progress.push(p.progress) } })
      t.equal(textOf(r), Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'))
      if (mode === 'sse') t.same(progress, Array.from({ length: 20 }, (_, i) => i + 1), 'every progress event, in order')
      else t.same(progress, [], 'a JSON-response server cannot stream progress')
    })

    await t.test('after notifications/tools/list_changed, lists are filtered and calls decided again', async (t) => {
      server.enableAdminTool()
      const { tools } = await client.listTools()
      t.notOk(tools.some((x) => x.name === 'admin_purge'), 'newly enabled but denied tool stays hidden')
      const r = await client.callTool({ name: 'admin_purge', arguments: {} })
      t.equal(r.isError, true)
      t.notOk(server.calls.some((c) => c.name === 'admin_purge'))
      if (mode === 'sse') {
        // The server sends list_changed on the standalone GET stream; it passes through unchanged.
        for (let i = 0; i < 100 && listChanged.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
        t.ok(listChanged.length > 0, 'list_changed notification reached the client')
      }
    })

    await t.test('sessions pass through; the agent token never reaches the server', async (t) => {
      t.equal(server.sessions.length, 1)
      const sid = server.sessions[0]
      const after = server.requests.slice(1)
      t.ok(after.length > 3)
      t.ok(after.every((r) => r.sessionId === sid), 'every later request carried the server-issued Mcp-Session-Id')
      t.ok(server.requests.every((r) => r.authorization === `Bearer ${SERVER_TOKEN}`), 'server only ever saw the injected credential')
      t.notOk(JSON.stringify(server.requests).includes(AGENT_TOKEN))
    })
  })
}
