// toolgate suggest on realistic traffic: an agent triaging GitHub issues and posting to Slack.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseConfigText } from '../../proxy/src/config/load.ts'
import { generaliseIdentifiers, generaliseVariants, isIdentifier, joinPattern } from '../../proxy/src/suggest/generalise.ts'
import { repoRoot } from '../helpers/tools.ts'

function record(method: string, host: string, path: string, decision = 'deny', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'decision', id: Math.random().toString(36).slice(2), scheme: 'https', host, port: 443, method, path, query: '', decision, stage: decision === 'allow' ? null : 'allowlist', tool: null, ...extra })
}

function traffic(): string {
  const lines: string[] = []
  for (let n = 1; n <= 40; n++) lines.push(record('GET', 'api.github.com', `/repos/acme/app/issues/${n}`))
  for (const repo of ['app', 'web', 'infra', 'docs', 'cli', 'sdk']) lines.push(record('GET', 'api.github.com', `/repos/acme/${repo}`))
  for (let n = 1; n <= 5; n++) lines.push(record('GET', 'api.github.com', `/repos/acme/app/issues/${n}/comments`))
  lines.push(record('POST', 'api.github.com', '/repos/acme/app/issues/7/comments'))
  lines.push(record('POST', 'api.github.com', '/repos/acme/app/issues/9/comments'))
  lines.push(record('DELETE', 'api.github.com', '/repos/acme/app/issues/3/labels/bug'))
  lines.push(record('GET', 'api.github.com', '/users/octocat'))
  lines.push(record('POST', 'hooks.slack.com', '/services/T0123ABCD/B0456EFGH/abcdefghijklmnop1234'))
  lines.push(record('GET', 'api.github.com', '/repos/acme/app/commits/9fceb02d0ae598e95dc970b74767f19372d61af8'))
  lines.push('not json')
  lines.push(JSON.stringify({ type: 'credential_issued', provider: 'x' }))
  lines.push(record('GET', 'api.github.com', '/x', 'deny', { stage: 'parse' }))
  return lines.join('\n') + '\n'
}

function runSuggest(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'suggest', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

t.test('identifier detection and generalisation', async (t) => {
  t.ok(isIdentifier('12345'))
  t.ok(isIdentifier('9fceb02d0ae598e95dc970b74767f19372d61af8'))
  t.ok(isIdentifier('3f2504e0-4f89-11d3-9a0c-0305e82c3301'))
  t.notOk(isIdentifier('issues'))
  t.notOk(isIdentifier('octocat'))
  t.equal(joinPattern(generaliseIdentifiers('/users/42/posts/7')), '/users/{user_id}/posts/{post_id}')
  const paths = ['a', 'b', 'c', 'd', 'e'].map((r) => generaliseIdentifiers(`/repos/acme/${r}`))
  t.same(generaliseVariants(paths).map(joinPattern), Array(5).fill('/repos/acme/{acme_name}'))
  const few = ['a', 'b'].map((r) => generaliseIdentifiers(`/repos/acme/${r}`))
  t.same(generaliseVariants(few).map(joinPattern), ['/repos/acme/a', '/repos/acme/b'], 'two values stay literal')
})

t.test('suggest from records: reads allowed, writes flagged, output valid', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-suggest-'))
  const recordsFile = join(dir, 'records.jsonl')
  writeFileSync(recordsFile, traffic())
  const out = join(dir, 'suggested.yaml')
  const r = await runSuggest(['--from', recordsFile, '--out', out])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /57 calls read \(3 lines skipped\)/)
  const text = readFileSync(out, 'utf8')
  const parsed = parseConfigText(text, out)
  t.ok(parsed.ok, 'the suggestion validates against the schema')
  const doc = parse(text) as { tools: Array<{ name: string; match: Record<string, unknown>; routes: Array<{ path: string; methods: string[]; access: string }> }> }
  const github = doc.tools.find((x) => x.name === 'github')!
  t.ok(github, 'api.github.com becomes tool github')
  t.same(github.match, { scheme: 'https', host: 'api.github.com' }, 'default port omitted')
  const paths = github.routes.map((r) => r.path)
  t.ok(paths.includes('/repos/acme/app/issues/{issue_id}'), 'numeric ids become captures named after their collection')
  t.ok(paths.includes('/repos/acme/{acme_name}'), 'six repos seen at one position become a capture')
  t.ok(paths.includes('/repos/acme/app/issues/{issue_id}/comments'))
  t.ok(paths.includes('/repos/acme/app/commits/{commit_id}'), 'commit sha is an id')
  t.ok(paths.includes('/users/octocat'), 'a single literal stays literal')
  for (const route of github.routes) {
    t.equal(route.access, 'read', `${route.path} is a read route`)
    t.notOk(route.methods.some((m) => !['GET', 'HEAD', 'OPTIONS'].includes(m)), `${route.path} allows no write method`)
  }
  t.match(text, /REVIEW: write access was observed/)
  t.match(text, /# {3}- \{ methods: \[POST\], path: "\/repos\/acme\/app\/issues\/\{issue_id\}\/comments", access: write \}/)
  t.match(text, /2 calls, 2 denied; e\.g\. POST \/repos\/acme\/app\/issues\/7\/comments/)
  t.match(text, /DELETE\], path: "\/repos\/acme\/app\/issues\/\{issue_id\}\/labels\/bug"/)
  t.match(text, /40 calls, 40 denied; e\.g\. GET \/repos\/acme\/app\/issues\/1, GET \/repos\/acme\/app\/issues\/2/)
  const slack = doc.tools.find((x) => x.name === 'hooks-slack')!
  t.same(slack.routes, [], 'a tool with only writes gets no allowed route')
})

t.test('suggest extends a current config and keeps its comments', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-suggest-'))
  const current = join(dir, 'current.yaml')
  writeFileSync(current, `# platform team: github for the triage agent
version: 1
tools:
  - name: gh
    match: { host: api.github.com }
    routes:
      # issues are fine
      - { methods: [GET], path: "/repos/acme/app/issues/{n}" }
`)
  const recordsFile = join(dir, 'records.jsonl')
  writeFileSync(recordsFile, [
    record('GET', 'api.github.com', '/repos/acme/app/issues/1', 'allow', { tool: 'gh', stage: null }),
    record('GET', 'api.github.com', '/users/octocat', 'deny', { tool: 'gh' }),
  ].join('\n'))
  const r = await runSuggest(['--from', recordsFile, '--config', current])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /# platform team: github for the triage agent/)
  t.match(r.stdout, /# issues are fine/)
  const doc = parse(r.stdout) as { tools: Array<{ name: string; routes: Array<{ path: string }> }> }
  t.equal(doc.tools.length, 1, 'no new tool for a host the config already has')
  t.same(doc.tools[0]!.routes.map((x) => x.path), ['/repos/acme/app/issues/{n}', '/users/octocat'], 'only the denied read is added')
  t.ok(parseConfigText(r.stdout, 'x.yaml').ok)
})
