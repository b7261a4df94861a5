// `npm test`: everything the suite needs, then the suite. Each scripts/prepare-*.js builds or
// fetches one external tool or artefact (cached per machine, idempotent), in name order.
// Then the config types are checked against the schema, the TypeScript is type-checked, and tap
// runs every test file. Extra arguments go to tap (e.g. `npm test -- test/unit`).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const run = (label, cmd, args) => {
  const started = Date.now()
  process.stdout.write(`# ${label}\n`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env })
  if (r.status !== 0) {
    console.error(`# ${label} failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status ?? 1)
  }
  process.stdout.write(`# ${label}: ${((Date.now() - started) / 1000).toFixed(1)}s\n`)
}

const node = process.execPath
for (const f of readdirSync(`${root}scripts`).filter((f) => /^prepare-.*\.js$/.test(f)).sort()) {
  run(`prepare ${f}`, node, [`scripts/${f}`])
}
run('config types up to date', node, ['scripts/gen-config-types.js', '--check'])
run('typecheck', node, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.test.json'])
// tap's own summary is `# { total, pass, fail }`; the closing line below states the same
// counts in the plain 'N passed, N failed' form that CI reads.
const extra = process.argv.slice(2)
const started = Date.now()
process.stdout.write('# tap\n')
const tap = spawnSync(node, ['node_modules/tap/dist/esm/run.mjs', ...extra], { cwd: root, stdio: ['inherit', 'pipe', 'inherit'], env: process.env, maxBuffer: 1 << 30 })
const out = tap.stdout.toString()
process.stdout.write(out)
const summary = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(out)
process.stdout.write(`# tap: ${((Date.now() - started) / 1000).toFixed(1)}s\n`)
if (summary) process.stdout.write(`tests: ${summary[2]} passed, ${summary[3] ?? 0} failed\n`)
if (tap.status !== 0) {
  console.error(`# tap failed (exit ${tap.status ?? tap.signal})`)
  process.exit(tap.status ?? 1)
}
