// `npm run build`: a self-contained dist/ for container images. The type check runs first
// (tsc, no output); esbuild then bundles proxy/src/cli.ts and its dependencies into ESM files
// in dist/proxy/src/ (cli.js and the chunks it imports), so start-up loads a few files instead of
// ~300 modules, and the assets the code reads (proxy/src/assets.ts) are copied to the same
// relative places. Each dynamic import() in the sources starts a chunk of its own, so a command
// parses only the code it can run: `toolgate run` does not compile the other commands, the
// injector or, until a config needs it, TLS interception (several MB in one file took ~120 ms).
// Run it with `node dist/bin/toolgate.js run`. The repo's own bin/toolgate.js always runs the
// sources, so a stale dist/ is never used by accident during development.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
// --out DIR writes the tree elsewhere (tests that build images use their own folder, so two of
// them, or build.test.ts, never remove a dist/ another one is reading).
const outAt = process.argv.indexOf('--out')
const dist = outAt > 0 && process.argv[outAt + 1] ? `${resolve(process.argv[outAt + 1])}/` : `${root}dist/`
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit'], { cwd: root, stdio: 'inherit' })
if (tsc.status !== 0) process.exit(tsc.status ?? 1)
rmSync(dist, { recursive: true, force: true })
// `undici` resolves to the parts of it toolgate uses (scripts/build-undici.js says why).
const undiciSlim = {
  name: 'undici-slim',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: `${root}scripts/build-undici.js` }))
  },
}
await build({
  entryPoints: [`${root}proxy/src/cli.ts`],
  outdir: `${dist}proxy/src`,
  splitting: true,
  // Beside cli.js: assets.ts resolves the assets relative to the file it ends up in.
  chunkNames: 'chunk-[hash]',
  plugins: [undiciSlim],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  legalComments: 'linked',
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __toolgateRequire } from 'node:module'; const require = __toolgateRequire(import.meta.url);" },
  logLevel: 'warning',
})
for (const f of ['config/toolgate.schema.json', 'config/toolgate.default.yaml', 'policy/default-bundle.tar.gz', 'package.json']) {
  mkdirSync(`${dist}${f.split('/').slice(0, -1).join('/')}`, { recursive: true })
  cpSync(`${root}${f}`, `${dist}${f}`)
}
mkdirSync(`${dist}bin`, { recursive: true })
const bin = readFileSync(`${root}bin/toolgate.js`, 'utf8').replace("'../proxy/src/cli.ts'", "'../proxy/src/cli.js'")
writeFileSync(`${dist}bin/toolgate.js`, bin, { mode: 0o755 })
console.log(`built ${dist} (run: node ${dist}bin/toolgate.js run)`)
