// A deterministic generated corpus of policy inputs covering every rule of the default policy
// (used by the differential test, the memory test and the benchmark).

import type { PolicyInput } from '../../proxy/src/decide/policy-input.ts'
import { baseInput } from './helpers.ts'

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const NOW_MS = Date.UTC(2026, 2, 14, 15, 9, 26, 535)

export function corpus(n: number, seed: number): PolicyInput[] {
  const rnd = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const tools = ['github', 'slack', 'jira', 'search'] as const
  const expiries = [
    new Date(NOW_MS + 3_600_000).toISOString(), new Date(NOW_MS - 1000).toISOString(),
    '2026-03-14T15:09:26.535000001Z', '2026-03-14T15:09:26.534999999Z', // a nanosecond either side of now
    '2026-03-14T16:09:26+01:00', '2026-03-14T16:10:00+01:00', '2026-03-14T10:00:00-05:00', '2026-03-14T11:00:00-05:00',
    'not a time', '2026-02-30T00:00:00Z', '2026-03-14 16:00:00Z', '2026-03-14T25:00:00Z', '2099-12-31T23:59:59.999999999Z',
  ]
  const out: PolicyInput[] = []
  for (let i = 0; i < n; i++) {
    const name = pick(tools)
    const hasTask = rnd() < 0.7
    const mcpTool = rnd() < 0.3 ? pick(['post_message', 'delete_channel', 'create_issue', null]) : undefined
    const declared = [...new Set([pick(['github', 'slack/post_message', 'jira/create_issue', 'search']), ...(rnd() < 0.5 ? [pick(tools)] : [])])]
    const agent = pick([
      { namespace: 'agents', service_account: 'research' },
      { namespace: 'agents', service_account: 'ops' },
      { namespace: 'finance', service_account: 'bot' },
      { namespace: null, service_account: null },
    ])
    const labels: Record<string, string> = rnd() < 0.3 ? { 'toolgate.dev/scope': pick(['repo:read', 'a  b c', '', 'chat:write']) } : {}
    out.push(baseInput({
      version: rnd() < 0.05 ? 2 : 1,
      agent: { ...agent, pod: 'p-0', spiffe_id: null, labels: {} },
      task: hasTask
        ? {
          id: `task-${i}`,
          intent: 'generated',
          declared_tools: declared,
          started_at: new Date(NOW_MS - 60_000).toISOString(),
          expires_at: pick(expiries),
          calls: pick([0, 5, 999, 1000, 1001, 4999, 5000]),
          source: pick(['issuer', 'agent'] as const),
          issuer: 'orchestrator',
          limits: { max_calls: pick([null, 3, 2000]) },
        }
        : null,
      tool: {
        name,
        access: pick(['read', 'read', 'write', 'execute', 'delegate'] as const),
        data_classification: pick(['public', 'internal', 'confidential', 'restricted', null, 'secret'] as const) as PolicyInput['tool']['data_classification'],
        labels,
        route: null,
        captures: {},
      },
      mcp: mcpTool === undefined ? null : { method: 'tools/call', tool: mcpTool, arguments: { q: i } },
      time: { now: new Date(NOW_MS).toISOString(), now_ns: NOW_MS * 1e6 },
    }))
  }
  return out
}
