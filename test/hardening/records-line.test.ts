// Issue 14 attack 9: a record or log line carrying U+2028/U+2029/U+0085 (an MCP tool name, an
// approval reason) must stay one line for readers that split on Unicode line breaks, and parse
// back to the same text. Written through the real file sink and the real logger.
import t from 'tap'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openRecordSink } from '../../proxy/src/record/records.ts'
import { createLogger } from '../../proxy/src/record/log.ts'

const nasty = 'tool\u2028name\u2029with\u0085breaks\nand\rcontrols\u000b\u000c'
// What Python's str.splitlines() (and JavaScript's /\R/-style splitters) treat as line ends.
const UNICODE_LINE_BREAKS = /[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/

t.test('file records: every line-breaking code point escaped, round-trips', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'toolgate-rec-')), 'records.jsonl')
  const sink = openRecordSink(file)
  sink.write({ mcp_tool: nasty, reason: nasty })
  sink.write({ n: 2 })
  await sink.close()
  const text = readFileSync(file, 'utf8')
  const lines = text.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 2)
  for (const line of lines) t.notOk(UNICODE_LINE_BREAKS.test(line), 'no raw line break inside a record')
  t.equal(JSON.parse(lines[0]!).mcp_tool, nasty, 'parses back to the same text')
})

t.test('log lines too', async (t) => {
  const out: string[] = []
  createLogger({ level: 'info', write: (l) => { out.push(l) } }).info('approval', { reason: nasty })
  t.equal(out.length, 1)
  t.notOk(UNICODE_LINE_BREAKS.test(out[0]!.slice(0, -1)))
  t.equal(JSON.parse(out[0]!).reason, nasty)
})
