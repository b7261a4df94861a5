// A task's call budget (the grant's tctx.limits.max_calls, or the policy's max_task_calls) counts
// tool calls, not HTTP requests. A JSON-RPC batch of N tools/call messages was decided N times
// with the same "calls so far" and counted as one call, so a grant allowing 2 calls ran 2 x 16
// (limits.max_batch_messages) tools. Real toolgate, real JWKS issuer, real Express + TypeScript SDK server.
import t from 'tap'
import { request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startExpressMcpServer } from './helpers/express-server.ts'
import { grantClaims, startIssuer } from '../trust/issuer.ts'

const AUD = 'toolgate://prod.example'
const ME = 'system:serviceaccount:agents:research'
const express = await startExpressMcpServer()
const orch = await startIssuer('orchestrator')
t.teardown(async () => { await express.close(); await orch.close() })

const gate = await startTestToolgate(`version: 1
${testListeners}
agent: { namespace: agents, service_account: research, pod: research-0 }
tasks:
  audience: ${AUD}
  issuers:
    - { name: orchestrator, issuer: "${orch.issuer}", jwks_url: "${orch.jwksUrl}" }
tools:
  - name: express-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${express.port} }
    mcp:
      allow_tools: ["get_*"]
`)
t.teardown(() => gate.close())

const send = async (token: string, body: unknown): Promise<{ status: number; json: unknown }> => {
  const r = await request(`${gate.proxyUrl}/t/express-mcp/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', 'txn-token': token }, body: JSON.stringify(body) })
  const text = await r.body.text()
  return { status: r.statusCode, json: text === '' ? null : JSON.parse(text) }
}
const callMsg = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'get_x', arguments: { repo: `r${id}` } } })

t.test('a batch cannot run more tools than the grant allows', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['express-mcp'], maxCalls: 2 }), { typ: 'txntoken+jwt' })
  const before = express.calls.length
  await send(token, [callMsg(1), callMsg(2), callMsg(3), callMsg(4), callMsg(5)])
  t.ok(express.calls.length - before <= 2, `the server ran ${express.calls.length - before} tools for a grant of 2 calls`)
  await send(token, callMsg(6))
  await send(token, [callMsg(7), callMsg(8)])
  t.ok(express.calls.length - before <= 2, `after more requests: ${express.calls.length - before} tools ran for a grant of 2 calls`)
})

t.test('within the budget, a batch is counted per tool call', async (t) => {
  const token = await orch.sign(grantClaims({ sub: ME, aud: AUD, tools: ['express-mcp'], maxCalls: 3 }), { typ: 'txntoken+jwt' })
  const before = express.calls.length
  const r = await send(token, [callMsg(11), callMsg(12)])
  t.equal(r.status, 200)
  t.equal(express.calls.length - before, 2, 'both ran')
  const task = gate.records.filter((x) => x.type === 'decision').at(-1)!['task'] as string | Record<string, unknown>
  t.ok(task, 'the record names the task')
  await send(token, callMsg(13))
  t.equal(express.calls.length - before, 3, 'the third call is the last one allowed')
  const over = await send(token, callMsg(14))
  t.equal(express.calls.length - before, 3, 'the fourth is refused')
  t.match(JSON.stringify(over.json), /calls its grant allows/)
})
