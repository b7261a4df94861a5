// docs/operations.md "Write calls with issued task grants", run as written: the key commands,
// the config, the grant-minting script and the agent's curl commands are read from the page's
// titled code blocks. The only changes are the test's own: a temporary directory, free ports
// (toolgate's listeners, the upstream standing in for the notes service) and the Node binary.

import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { startUpstream, type Received } from '../helpers/upstream.ts'
import { repoRoot } from '../helpers/tools.ts'

const run = promisify(execFile)
const page = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8')
const section = page.slice(page.indexOf('## 5. Write calls with issued task grants'), page.indexOf('## Capacity and memory'))
/** The titled code blocks of the section, de-indented. */
const blocks = new Map([...section.matchAll(/^( *)```\w+ title=([\w.-]+)\n([\s\S]*?)^\1```/gm)].map((m) => [m[2]!, m[3]!.split('\n').map((l) => l.slice(m[1]!.length)).join('\n')]))

t.same([...blocks.keys()], ['keys', 'toolgate.yaml', 'mint-grant.mjs', 'agent'], 'the page has the four steps')

const dir = mkdtempSync(join(tmpdir(), 'toolgate-ops-doc-'))
// The minting script imports jose from the project's node_modules, as a platform would from its own.
symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
const env = { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, HOME: dir }
await run('bash', ['-euo', 'pipefail', '-c', blocks.get('keys')!], { cwd: dir, env })
writeFileSync(join(dir, 'mint-grant.mjs'), blocks.get('mint-grant.mjs')!)

const notes = await startUpstream()
t.teardown(() => notes.close())
const yaml = blocks.get('toolgate.yaml')!.replace('version: 1\n', `version: 1\n${testListeners}`).replace('port: 8080', `port: ${notes.port}`)
  .replace('public_key_file: issuer.pub', `public_key_file: ${join(dir, 'issuer.pub')}`)
const gate = await startTestToolgate(yaml)
t.teardown(() => gate.close())

const commands = blocks.get('agent')!.split('\n').filter((l) => l.startsWith('curl'))
  .map((l) => l.replaceAll('http://127.0.0.1:15001', gate.proxyUrl).replaceAll('127.0.0.1:8080', `127.0.0.1:${notes.port}`))
t.equal(commands.length, 2)

t.test('without a grant the write is denied, with the reason', async (t) => {
  const { stdout } = await run('bash', ['-c', commands[0]!], { cwd: dir, env })
  t.match(JSON.parse(stdout), { error: { code: 'denied', message: /^toolgate: write access to tool notes needs a task that declares it \(decision / } })
  t.equal(notes.received.length, 0, 'nothing reached the notes service')
})

t.test('with the minted grant the write goes through, on a task, and the grant is not forwarded', async (t) => {
  const { stdout } = await run('bash', ['-c', commands[1]!], { cwd: dir, env })
  const echoed = JSON.parse(stdout) as Received
  t.match(echoed, { method: 'POST', url: '/notes', body: 'standup: shipped' })
  t.notOk(echoed.headers['txn-token'], 'toolgate removed the grant')
  const rec = gate.records.filter((r) => r['type'] === 'decision' || r['decision'] !== undefined).at(-1)!
  t.match(rec, { decision: 'allow', tool: 'notes', access: 'write', task: /.+/ })
  t.ok(gate.records.some((r) => r['type'] === 'task_opened' && r['issuer'] === 'orchestrator'), 'the grant opened its task')
})
