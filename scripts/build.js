// `npm run build`: compiles proxy/src to dist/ (tsc rewrites the .ts import specifiers to .js)
// and copies the assets the code reads next to it, so dist/ is a self-contained tree for a
// container image: `node dist/bin/toolgate.js run`. Running from dist skips type stripping at
// start. The repo's own bin/toolgate.js always runs the sources, so a stale dist/ is never used
// by accident during development.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = `${root}dist/`
rmSync(dist, { recursive: true, force: true })
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
if (tsc.status !== 0) process.exit(tsc.status ?? 1)
for (const f of ['config/toolgate.schema.json', 'config/toolgate.default.yaml', 'policy/default-bundle.tar.gz', 'package.json']) {
  mkdirSync(`${dist}${f.split('/').slice(0, -1).join('/')}`, { recursive: true })
  cpSync(`${root}${f}`, `${dist}${f}`)
}
mkdirSync(`${dist}bin`, { recursive: true })
const bin = readFileSync(`${root}bin/toolgate.js`, 'utf8')
  .replace(/const dist = [^\n]*\n/, '')
  .replace(/const entry = [^\n]*\n/, "const entry = new URL('../proxy/src/cli.js', import.meta.url)\n")
  .replace("import { existsSync } from 'node:fs'\n", '')
writeFileSync(`${dist}bin/toolgate.js`, bin, { mode: 0o755 })
console.log('built dist/ (run: node dist/bin/toolgate.js run)')
