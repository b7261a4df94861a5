// docs/config.md's field table and proxy/src/config/schema.gen.ts are generated from the schema:
// both must be up to date (after a schema edit, run `npm run gen:types`, which regenerates both).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'

t.test('generated types and the docs field table match the schema', async (t) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/gen-config-types.js'), '--check'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
})

t.test('every top-level field of the schema is in the docs table', async (t) => {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'config/toolgate.schema.json'), 'utf8')) as { properties: Record<string, unknown> }
  const doc = readFileSync(join(repoRoot, 'docs/config.md'), 'utf8')
  for (const field of Object.keys(schema.properties)) t.match(doc, `| \`${field}\``, field)
})

t.test('the generated types have one Listener type, not numbered copies', async (t) => {
  const types = readFileSync(join(repoRoot, 'proxy/src/config/schema.gen.ts'), 'utf8')
  t.notMatch(types, /\b(Listener|Tool|Route|Labels)\d\b/)
  t.match(types, /proxy\?: Listener\n\s+admin\?: Listener\n/)
})
