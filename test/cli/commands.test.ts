// The dispatcher and the commands: every command describes itself (summary, usage) in its own
// module, the overview is built from those summaries, and no module imports cli.ts back (the
// import cycle that used to exist between cli.ts and commands/*).

import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'
import { usage, main } from '../../proxy/src/cli.ts'
import { runCommand } from '../../proxy/src/commands/run.ts'
import { checkCommand } from '../../proxy/src/commands/check.ts'
import { decideCommand } from '../../proxy/src/commands/decide.ts'
import { suggestCommand } from '../../proxy/src/commands/suggest.ts'
import { verifyRecordsCommand } from '../../proxy/src/commands/verify-records.ts'
import { selftestCommand } from '../../proxy/src/commands/selftest.ts'
import { injectCommand } from '../../proxy/src/inject/command.ts'
import { iptablesCommand } from '../../proxy/src/listen/iptables/command.ts'

t.test('the overview lists every command with the summary its own module gives', async (t) => {
  const text = await usage()
  const own = { run: runCommand, check: checkCommand, decide: decideCommand, suggest: suggestCommand, 'verify-records': verifyRecordsCommand, selftest: selftestCommand, inject: injectCommand, iptables: iptablesCommand }
  for (const [name, cmd] of Object.entries(own)) {
    t.ok(cmd.summary.length > 0 && !cmd.summary.includes('\n'), `${name}: one-line summary`)
    t.ok(text.includes(`  ${name.padEnd(16)}${cmd.summary}\n`), `${name}: its own summary is in the overview`)
    t.match(cmd.usage, /^usage: toolgate /, `${name}: usage text`)
  }
  t.equal(text.match(/^ {2}\S/gm)?.length, Object.keys(own).length, 'no other command is listed')
})

t.test('no module under proxy/src imports cli.ts (no dispatcher ↔ command cycle)', async (t) => {
  const src = join(repoRoot, 'proxy/src')
  const offenders: string[] = []
  let scanned = 0
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts') && p !== join(src, 'cli.ts')) {
        scanned++
        const text = readFileSync(p, 'utf8')
        if (/from\s+['"](?:\.\.?\/)+(?:\.\.\/)*cli\.ts['"]|import\(\s*['"][./]*cli\.ts['"]\s*\)/.test(text)) offenders.push(relative(repoRoot, p))
      }
    }
  }
  walk(src)
  t.ok(scanned > 50, `scanned ${scanned} modules`)
  t.same(offenders, [], 'nothing imports cli.ts')
})

t.test('names that exist on Object.prototype are unknown commands, not crashes', async (t) => {
  const writes: string[] = []
  const orig = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((s: string) => { writes.push(String(s)); return true }) as typeof process.stderr.write
  try {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      t.equal(await main([name]), 2, `${name} → exit 2`)
    }
  } finally {
    process.stderr.write = orig
  }
  t.match(writes.join(''), /unknown command 'constructor'/)
})
