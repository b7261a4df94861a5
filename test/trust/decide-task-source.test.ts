// `toolgate decide` simulates a task as one opened by a verified grant, or, with
// "source":"agent", as an agent-declared one, which the default policy never lets write.

import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../helpers/tools.ts'

const exec = promisify(execFile)

t.test('decide: issuer task writes, agent-declared task does not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-decide-'))
  const url = 'https://api.github.com/repos/acme/app/issues'
  writeFileSync(join(dir, 'in.jsonl'), [
    JSON.stringify({ method: 'POST', url, task: { intent: 'triage', tools: ['github'] } }),
    JSON.stringify({ method: 'POST', url, task: { intent: 'triage', tools: ['github'], source: 'agent' } }),
  ].join('\n'))
  const r = await exec(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'decide', '--json', '--config', join(repoRoot, 'config/examples/github-tasks.yaml'), '--input', join(dir, 'in.jsonl')]).catch((e: { stdout: string; code: number }) => e)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { decision: string; reasons: string[] })
  t.equal(lines[0]!.decision, 'allow', 'a task from a grant unlocks the declared write')
  t.equal(lines[1]!.decision, 'deny')
  t.match(lines[1]!.reasons[0], /needs a task from a trusted issuer/)
  t.equal((r as { code?: number }).code, 3, 'exit 3: something was denied')
})
