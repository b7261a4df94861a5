// The records file writer (record/line-appender.ts): every line of an event-loop turn appended in
// one synchronous write at the end of the turn. Real files in a temporary directory; the failure
// case writes to /dev/full (a real device answering ENOSPC) in a child process.
import t from 'tap'
import fc from 'fast-check'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { LineAppender } from '../../proxy/src/record/line-appender.ts'
import { repoRoot } from '../helpers/tools.ts'

const dir = mkdtempSync(join(tmpdir(), 'toolgate-appender-'))
let n = 0
const fresh = (): string => join(dir, `records-${n++}.jsonl`)

t.test('the lines of one turn land together at its end, in order, in a 0600 file', async (t) => {
  const path = fresh()
  const a = new LineAppender(path)
  t.equal((statSync(path).mode & 0o777), 0o600)
  a.write('{"n":1}\n')
  a.write('{"n":2}\n')
  t.equal(readFileSync(path, 'utf8'), '', 'nothing written before the turn ends')
  await nextTurn()
  t.equal(readFileSync(path, 'utf8'), '{"n":1}\n{"n":2}\n')
  a.write('{"n":3}\n')
  await nextTurn()
  t.equal(readFileSync(path, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n')
  a.close()
})

t.test('an existing file is appended to; close() writes what is queued; later writes are ignored', async (t) => {
  const path = fresh()
  writeFileSync(path, 'earlier\n')
  const a = new LineAppender(path)
  a.write('queued\n')
  a.close()
  t.equal(readFileSync(path, 'utf8'), 'earlier\nqueued\n', 'flushed by close, synchronously')
  a.write('after close\n')
  a.close()
  await nextTurn()
  t.equal(readFileSync(path, 'utf8'), 'earlier\nqueued\n')
})

t.test('a file that cannot be opened throws at once, naming the reason', async (t) => {
  t.throws(() => new LineAppender(join(dir, 'missing-dir', 'r.jsonl')), { code: 'ENOENT' })
  t.notOk(existsSync(join(dir, 'missing-dir')))
})

t.test('any sequence of lines and turn boundaries ends up in the file exactly, in order (property)', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 300 }).map((s) => `${s.replace(/\n/g, ' ')}\n`), fc.boolean()), { maxLength: 60 }),
    async (steps) => {
      const path = fresh()
      const a = new LineAppender(path)
      for (const [line, endTurn] of steps) {
        a.write(line)
        if (endTurn) await nextTurn()
      }
      await nextTurn()
      const expected = steps.map(([line]) => line).join('')
      const got = readFileSync(path, 'utf8')
      a.close()
      return got === expected
    },
  ), { numRuns: 60 }))
})

t.test('a write that fails stops the process (no unrecorded calls), as the stream before did', { skip: existsSync('/dev/full') ? false : 'no /dev/full' }, async (t) => {
  const script = `import { LineAppender } from ${JSON.stringify(join(repoRoot, 'proxy/src/record/line-appender.ts'))}
const a = new LineAppender('/dev/full')
a.write('{"n":1}\\n')
setTimeout(() => { console.log('still running'); process.exit(0) }, 2000)`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  t.not(r.status, 0)
  t.match(r.stderr, /ENOSPC/)
  t.notMatch(r.stdout, /still running/)
})
