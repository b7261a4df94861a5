// Issue 14 attack 9: a record or log line carrying U+2028/U+2029/U+0085 (an MCP tool name, an
// approval reason) must stay one line for readers that split on Unicode line breaks, and parse
// back to the same text. Written through the real file sink and the real logger.
import t from 'tap'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openRecordSink } from '../../proxy/src/record/records.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import type { ToolgateRecord } from '../../proxy/src/record/record-types.ts'
import { verifyRecordsFile } from '../../proxy/src/record/verify.ts'

const nasty = 'tool\u2028name\u2029with\u0085breaks\nand\rcontrols\u000b\u000c'
// What Python's str.splitlines() (and JavaScript's /\R/-style splitters) treat as line ends.
const UNICODE_LINE_BREAKS = /[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/

t.test('file records: every line-breaking code point escaped, round-trips', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'toolgate-rec-')), 'records.jsonl')
  const sink = openRecordSink(file)
  // Not a real record kind: the line writer must escape whatever fields it is given.
  sink.write({ mcp_tool: nasty, reason: nasty } as unknown as ToolgateRecord)
  sink.write({ n: 2 } as unknown as ToolgateRecord)
  await sink.close()
  const text = readFileSync(file, 'utf8')
  // Split on \n only, as the chain verifier does: every line (chain start, records, checkpoint)
  // must be a whole JSON value, with no other line break inside it.
  const lines = text.split('\n').filter((l) => l !== '')
  for (const line of lines) t.notOk(UNICODE_LINE_BREAKS.test(line), 'no raw line break inside a line')
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  t.equal(records.filter((r) => r['mcp_tool'] === nasty).length, 1, 'the record parses back to the same text')
  t.equal(records.filter((r) => r['n'] === 2).length, 1)
  const verified = await verifyRecordsFile(file, { trusted: null })
  t.ok(verified.ok, `the hash chain verifies over the escaped lines: ${JSON.stringify(verified.problem)}`)
})

t.test('log lines too', async (t) => {
  const out: string[] = []
  createLogger({ level: 'info', write: (l) => { out.push(l) } }).info('approval', { reason: nasty })
  t.equal(out.length, 1)
  t.notOk(UNICODE_LINE_BREAKS.test(out[0]!.slice(0, -1)))
  t.equal(JSON.parse(out[0]!).reason, nasty)
})
