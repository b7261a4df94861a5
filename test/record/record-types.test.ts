// Records are typed: one type per record kind (record/record-types.ts), all kinds in one union,
// and the sink accepts only that union. The compile-time half of this file (the lines marked
// to expect a type error) fails the typecheck if the sink ever accepts an untyped object again;
// the run-time half holds what a real ApprovalGate writes to the fields its types declare.
import t from 'tap'
import { ApprovalGate, type ApprovalInfo } from '../../proxy/src/admin/api-approvals.ts'
import type { ApprovalRequestedRecord, ApprovalResolvedRecord } from '../../proxy/src/admin/approval-records.ts'
import type { RecordType } from '../../proxy/src/record/record-types.ts'
import { memorySink } from '../../proxy/src/record/records.ts'
import { createLogger } from '../../proxy/src/record/log.ts'

t.test('the sink refuses, at compile time, what is not a record kind', async (t) => {
  const sink = memorySink()
  // @ts-expect-error an object without a record type
  sink.write({ anything: 1 })
  // @ts-expect-error an approval outcome that does not exist
  sink.write({ type: 'approval_resolved', time: '', approval_id: 'a', decision_id: 'a', outcome: 'maybe', reason: '', task: null, tool: 't' })
  // @ts-expect-error an approval_requested record without the held call's fields
  sink.write({ type: 'approval_requested', time: '' })
  // @ts-expect-error a record kind nobody declared
  sink.write({ type: 'approval_escalated', time: '' })
  // The writes above still run (the types are erased): the sink stores what it is given.
  t.equal(sink.records.length, 4)
  const kinds: RecordType[] = ['decision', 'credential_issued', 'credential_revoked', 'credential_expired', 'approval_requested', 'approval_resolved', 'task_opened', 'task_ended', 'mcp_task_cancel', 'mcp_pin']
  t.equal(new Set(kinds).size, 10, 'every record kind is a member of the union')
})

// Key lists tied to the types by the compiler: `satisfies Record<keyof X, true>` fails if a key
// is missing or one is added that the type does not declare.
const REQUESTED = {
  type: true, time: true, id: true, decision_id: true, tool: true, method: true, host: true, path: true, target: true,
  body_sha256: true, call_digest: true, reason: true, task: true, requested_at: true, expires_at: true,
} satisfies Record<keyof ApprovalRequestedRecord, true>
const RESOLVED = {
  type: true, time: true, approval_id: true, decision_id: true, outcome: true, reason: true, task: true, tool: true,
  call_digest: true, approver: true, approver_issuer: true, approver_via: true,
} satisfies Record<keyof ApprovalResolvedRecord, true>
const RESOLVED_REQUIRED = ['type', 'time', 'approval_id', 'decision_id', 'outcome', 'reason', 'task', 'tool']

const info = (id: string): ApprovalInfo => ({
  decisionId: id, tool: 'github', method: 'POST', host: 'api.github.com', path: '/repos/x/issues', reason: 'writes need approval',
  taskId: null, target: 'https://api.github.com/repos/x/issues?token=s3cr3t', bodySha256: 'ab'.repeat(32), callDigest: `sha256:${'cd'.repeat(32)}`,
})

t.test('a real approval gate writes records with exactly their declared fields', async (t) => {
  const sink = memorySink()
  let now = Date.parse('2026-01-01T00:00:00Z')
  const gate = new ApprovalGate({ timeoutMs: 60_000, maxPending: 1, records: sink, logger: createLogger({ level: 'error', write: () => {} }), approvers: null, now: () => now })
  const held = gate.request(info('d-1'))
  const overflow = await gate.request(info('d-2'))
  t.equal(overflow.approved, false, 'one more than max_pending is refused at once')
  now += 5
  await gate.close()
  t.equal((await held).approved, false, 'a held call is denied when approvals shut down')
  const [requested, refused, cancelled] = sink.records
  t.equal(sink.records.length, 3)
  t.same(Object.keys(requested!).sort(), Object.keys(REQUESTED).sort(), 'approval_requested carries exactly its declared fields')
  t.match(requested, { type: 'approval_requested', id: 'd-1', decision_id: 'd-1', target: 'https://api.github.com/repos/x/issues?token=_', time: '2026-01-01T00:00:00.000Z' })
  t.notMatch(JSON.stringify(sink.records), 's3cr3t', 'query values are redacted in records')
  for (const [r, outcome] of [[refused, 'overflow'], [cancelled, 'cancelled']] as const) {
    t.match(r, { type: 'approval_resolved', outcome })
    for (const k of Object.keys(r!)) t.ok(k in RESOLVED, `approval_resolved field ${k} is declared`)
    for (const k of RESOLVED_REQUIRED) t.ok(k in r!, `approval_resolved has ${k}`)
  }
  t.equal(cancelled!['call_digest'], info('d-1').callDigest, 'a resolved held call names the digest it was bound to')
  t.equal(cancelled!['time'], '2026-01-01T00:00:00.005Z', 'times come from the injected clock')
})
