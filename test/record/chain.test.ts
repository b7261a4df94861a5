// Tamper-evident records: the real file sink writes hash-chained lines with signed checkpoints,
// and the verifier finds a deleted, an edited and a reordered line (and every single-line
// mutation, property-based), links segments across restarts, and reports a crash-cut line.
import t from 'tap'
import fc from 'fast-check'
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { openRecordSink } from '../../proxy/src/record/records.ts'
import type { ToolgateRecord } from '../../proxy/src/record/record-types.ts'
import { generateSigner, type RecordSigner } from '../../proxy/src/record/signer.ts'
import { verifyRecordsFile, keysFromJwks } from '../../proxy/src/record/verify.ts'

/** The chain hashes whatever object it gets: these tests write short or forged records on purpose. */
const partial = (fields: Record<string, unknown>): ToolgateRecord => fields as unknown as ToolgateRecord

const dir = mkdtempSync(join(tmpdir(), 'toolgate-chain-'))
let n = 0
const fresh = () => join(dir, `records-${n++}.jsonl`)

async function writeRecords(file: string, signer: RecordSigner, count: number, every = 3): Promise<void> {
  const sink = openRecordSink(file, { signer, checkpointEveryRecords: every })
  for (let i = 0; i < count; i++) sink.write(partial({ type: 'decision', id: `d-${i}`, tool: 'github', path: `/repos/${i}`, decision: i % 2 ? 'allow' : 'deny' }))
  await sink.close()
}

const trusted = (s: RecordSigner): Map<string, KeyObject> => keysFromJwks({ keys: [s.publicJwk] })
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').slice(0, -1)
const rewrite = (file: string, ls: string[]) => writeFileSync(file, ls.map((l) => l + '\n').join(''))

t.test('an intact stream verifies: chain start, records, checkpoints, closing checkpoint', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 7)
  const ls = lines(file).map((l) => JSON.parse(l) as Record<string, unknown>)
  t.equal(ls[0]!['type'], 'chain_start')
  t.same(ls.map((r) => r['seq']), ls.map((_, i) => i), 'seq counts every line')
  t.equal(ls[0]!['prev'], null)
  t.equal(ls.filter((r) => r['type'] === 'checkpoint').length, 3, 'after records 3 and 6, and the closing one')
  t.equal(ls.at(-1)!['final'], true)
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.same({ ok: r.ok, problem: r.problem, warnings: r.warnings, checkpoints: r.checkpoints, uncovered: r.uncovered }, { ok: true, problem: null, warnings: [], checkpoints: 3, uncovered: 0 })
  const unpinned = await verifyRecordsFile(file, { trusted: null })
  t.ok(unpinned.ok)
  t.match(unpinned.warnings.join('\n'), /pass --jwks or --key/, 'without pinned keys it says so')
})

t.test('a deleted record is a gap at the line after it', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 6)
  const ls = lines(file)
  ls.splice(2, 1) // seq 2
  rewrite(file, ls)
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.equal(r.ok, false)
  t.same(r.problem && { kind: r.problem.kind, line: r.problem.line }, { kind: 'gap', line: 3 })
  t.match(r.problem?.message, /seq 3 where seq 2 was due: 1 record\(s\) missing/)
})

t.test('an edited record is reported at that line', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 6)
  const ls = lines(file)
  ls[2] = ls[2]!.replace('"decision":"allow"', '"decision":"deny"') // seq 2 is an allow
  t.not(ls[2], lines(file)[2], 'the line was changed')
  rewrite(file, ls)
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.same(r.problem && { kind: r.problem.kind, line: r.problem.line }, { kind: 'edit', line: 3 })
  t.match(r.problem?.message, /line 3: changed/)
})

t.test('reordered records are a reordering, not a gap', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 6)
  const ls = lines(file)
  ;[ls[1], ls[2]] = [ls[2]!, ls[1]!]
  rewrite(file, ls)
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.same(r.problem && { kind: r.problem.kind, line: r.problem.line }, { kind: 'reorder', line: 2 })
  t.match(r.problem?.message, /seq 2 where seq 1 was due; seq 1 comes later/)
})

t.test('checkpoints: an edited or re-signed checkpoint fails; a key that is not pinned fails', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 3)
  const ls = lines(file)
  const cp = ls.findIndex((l) => l.includes('"type":"checkpoint"'))
  const edited = [...ls]
  edited[cp] = edited[cp]!.replace('"final":false', '"final":true ')
  rewrite(file, edited)
  const r1 = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.equal(r1.problem?.kind, 'signature')
  t.equal(r1.problem?.line, cp + 1)
  rewrite(file, ls)
  const other = generateSigner()
  const r2 = await verifyRecordsFile(file, { trusted: trusted(other) })
  t.equal(r2.problem?.kind, 'signature', 'a stream signed by a key that is not published fails')
  t.match(r2.problem?.message, /not among the trusted keys/)
  // A forger who rewrites the whole stream with their own key passes only the unpinned check.
  const forged = fresh()
  await writeRecords(forged, other, 3)
  t.equal((await verifyRecordsFile(forged, { trusted: trusted(signer) })).problem?.kind, 'signature')
})

t.test('lines removed from the end: only the missing closing checkpoint shows, as a warning', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 5)
  const ls = lines(file)
  rewrite(file, ls.slice(0, -2))
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.equal(r.ok, true, 'the remaining chain is consistent')
  t.match(r.warnings.join('\n'), /not covered by a signature/)
  t.match(r.warnings.join('\n'), /no closing checkpoint/)
})

t.test('appending after a restart links the new segment to the last line; removing across it is detected', async (t) => {
  const signer1 = generateSigner()
  const signer2 = generateSigner()
  const file = fresh()
  await writeRecords(file, signer1, 2)
  await writeRecords(file, signer2, 2)
  const keys = new Map([...trusted(signer1), ...trusted(signer2)])
  const r = await verifyRecordsFile(file, { trusted: keys })
  t.same({ ok: r.ok, segments: r.segments, warnings: r.warnings }, { ok: true, segments: 2, warnings: [] })
  const ls = lines(file)
  const second = ls.findIndex((l, i) => i > 0 && l.includes('"type":"chain_start"'))
  rewrite(file, [...ls.slice(0, second - 1), ...ls.slice(second)]) // drop the first segment's closing checkpoint
  const cut = await verifyRecordsFile(file, { trusted: keys })
  t.equal(cut.problem?.kind, 'edit')
  t.equal(cut.problem?.line, second)
})

t.test('a line cut short by a crash stays visible: the next start does not glue onto it', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  await writeRecords(file, signer, 2)
  appendFileSync(file, '{"type":"decision","id":"half')
  await writeRecords(file, signer, 1)
  const r = await verifyRecordsFile(file, { trusted: trusted(signer) })
  t.equal(r.problem?.kind, 'malformed')
  t.equal(r.problem?.line, lines(file).findIndex((l) => l.endsWith('"half')) + 1)
})

t.test('not a chained stream, garbage, empty: clear problems, no crash', async (t) => {
  const file = fresh()
  writeFileSync(file, '{"type":"decision","id":"x"}\n')
  t.equal((await verifyRecordsFile(file, { trusted: null })).problem?.kind, 'unchained')
  writeFileSync(file, '\u0000\u00ff[1,2]\n')
  t.equal((await verifyRecordsFile(file, { trusted: null })).problem?.kind, 'malformed')
  writeFileSync(file, '')
  t.match((await verifyRecordsFile(file, { trusted: null })).problem?.message, /empty/)
  t.throws(() => keysFromJwks({ nope: 1 }), /not a JWKS/)
})

t.test('record fields cannot forge the chain: seq, prev and sig in a record are replaced', async (t) => {
  const signer = generateSigner()
  const file = fresh()
  const sink = openRecordSink(file, { signer })
  sink.write(partial({ type: 'decision', seq: 99, prev: 'f'.repeat(64), sig: 'AAAA' }))
  await sink.close()
  const rec = JSON.parse(lines(file)[1]!) as Record<string, unknown>
  t.equal(rec['seq'], 1)
  t.equal(rec['sig'], undefined)
  t.ok((await verifyRecordsFile(file, { trusted: trusted(signer) })).ok)
})

t.test('property: any single deletion, swap or byte change of a closed stream is detected', async (t) => {
  const signer = generateSigner()
  const keys = trusted(signer)
  const base = fresh()
  await writeRecords(base, signer, 9, 4)
  const original = lines(base)
  const target = fresh()
  await fc.assert(fc.asyncProperty(
    fc.oneof(
      fc.record({ op: fc.constant('delete' as const), i: fc.nat(original.length - 1) }),
      fc.record({ op: fc.constant('swap' as const), i: fc.nat(original.length - 1), j: fc.nat(original.length - 1) }).filter((m) => m.i !== m.j),
      fc.record({ op: fc.constant('byte' as const), i: fc.nat(original.length - 1), at: fc.nat(), to: fc.integer({ min: 0x20, max: 0x7e }) }),
    ),
    async (m) => {
      const ls = [...original]
      if (m.op === 'delete') ls.splice(m.i, 1)
      else if (m.op === 'swap') [ls[m.i], ls[m.j]] = [ls[m.j]!, ls[m.i]!]
      else {
        const l = ls[m.i]!
        const at = m.at % l.length
        if (l.charCodeAt(at) === m.to) return // not a change
        ls[m.i] = l.slice(0, at) + String.fromCharCode(m.to) + l.slice(at + 1)
      }
      rewrite(target, ls)
      const r = await verifyRecordsFile(target, { trusted: keys })
      return !r.ok || r.warnings.length > 0
    },
  ), { numRuns: 300 })
  rewrite(target, original)
  const clean = await verifyRecordsFile(target, { trusted: keys })
  t.same({ ok: clean.ok, warnings: clean.warnings }, { ok: true, warnings: [] }, 'and the unmodified stream passes')
  t.ok(createPublicKey({ key: signer.publicJwk, format: 'jwk' }))
})
