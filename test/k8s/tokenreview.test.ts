// Approvers authenticated by Kubernetes ServiceAccount tokens (trust/tokenreview.ts) against the
// real kube-apiserver (+ etcd) the suite starts on loopback (test/k8s/cluster.ts): tokens are
// minted by the API server's TokenRequest API, reviewed with a TokenReview. An allowed approver
// ServiceAccount releases a held call and is named in the record; the agent's own ServiceAccount
// token, a token for another audience and a forged token are refused.

import t from 'tap'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'
import { startCluster, type Cluster } from './cluster.ts'
import { TokenReviewer } from '../../proxy/src/trust/tokenreview.ts'
import { Approvers } from '../../proxy/src/trust/approvers.ts'
import { ApprovalGate } from '../../proxy/src/admin/api-approvals.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'

const bins = { etcd: join(repoRoot, '.cache/bin/etcd'), apiserver: join(repoRoot, '.cache/bin/kube-apiserver') }
const missing = Object.values(bins).filter((b) => !existsSync(b))

if (missing.length > 0 && !process.env['CI']) {
  t.plan(0, `TokenReview test skipped: missing ${missing.join(', ')} (run node scripts/prepare-kube.js)`)
} else {
  if (missing.length > 0) throw new Error(`CI: missing ${missing.join(', ')}`)
  let cluster: Cluster
  t.before(async () => { cluster = await startCluster(bins.etcd, bins.apiserver) })
  t.teardown(async () => { await cluster?.stop() })

  const api = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => cluster.client.call<T>(method, path, body)
  async function serviceAccountToken(ns: string, name: string, audiences?: string[]): Promise<string> {
    await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => {})
    await api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } }).catch(() => {})
    const r = await api<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600, ...(audiences ? { audiences } : {}) },
    })
    return r.status.token
  }

  t.test('TokenReview: an approver ServiceAccount approves; the agent and forgeries cannot', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-tokenreview-'))
    // toolgate's own credential for the TokenReview call (here the test cluster's admin token; in
    // a cluster, a ServiceAccount bound to system:auth-delegator).
    writeFileSync(join(dir, 'reviewer.token'), cluster.token, { mode: 0o600 })
    writeFileSync(join(dir, 'ca.crt'), cluster.caPem)
    const reviewer = new TokenReviewer({ api_server: cluster.server, ca_file: 'ca.crt', token_file: 'reviewer.token', service_accounts: ['system:serviceaccount:ops:approver'], audiences: ['toolgate-approvals'] }, dir)
    t.teardown(() => reviewer.close())
    const approvers = new Approvers({ approvers: () => [], audience: () => null, kubernetes: () => reviewer })
    const records: Record<string, unknown>[] = []
    const gate = new ApprovalGate({ approvers, timeoutMs: 20_000, maxPending: 4, records: { write: (r) => { records.push(r) } }, logger: silentLogger })
    t.teardown(() => gate.close())
    const server = createServer((req, res) => { void gate.handleApi(req, res, new URL(req.url ?? '/', 'http://control')) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.teardown(() => { server.closeAllConnections(); server.close() })
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const post = (bearer: string, body: unknown) => fetch(`${base}/v1/approvals/c1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify(body) })

    const approverToken = await serviceAccountToken('ops', 'approver', ['toolgate-approvals'])
    const agentToken = await serviceAccountToken('agents', 'research', ['toolgate-approvals'])
    const wrongAudience = await serviceAccountToken('ops', 'approver', ['some-other-service'])
    const [h, p, s] = approverToken.split('.')
    const forged = `${h}.${p}.${s!.slice(0, -4)}AAAA`

    const held = gate.request({ decisionId: 'c1', tool: 'db', method: 'DELETE', host: 'db', path: '/rows', reason: 'destructive', taskId: null, target: 'https://db:443/rows', bodySha256: 'x', callDigest: 'd' })
    const refusals: Array<[string, string, RegExp]> = [
      ['the agent\'s own ServiceAccount', agentToken, /system:serviceaccount:agents:research is not an approver/],
      ['a token for another audience', wrongAudience, /did not authenticate this token/],
      ['a forged signature', forged, /did not authenticate this token/],
    ]
    for (const [name, token, reason] of refusals) {
      const r = await post(token, { decision: 'approve' })
      t.equal(r.status, 401, name)
      t.match(((await r.json()) as { reason: string }).reason, reason, name)
    }
    t.equal(gate.size, 1, 'still held')
    const ok = await post(approverToken, { decision: 'approve', reason: 'on call' })
    t.equal(ok.status, 200)
    t.same(await held, { approved: true, reason: 'approved by system:serviceaccount:ops:approver (kubernetes): on call' })
    t.match(records.find((r) => r.type === 'approval_resolved'), { approver: 'system:serviceaccount:ops:approver', approver_issuer: 'kubernetes', approver_via: 'kubernetes' })
    t.notOk(JSON.stringify(records).includes(approverToken), 'the reviewed token is in no record')
  })
}
