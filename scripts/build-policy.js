// Builds the embedded default policy bundle policy/default-bundle.tar.gz from policy/src with
// the pinned OPA CLI (.cache/bin/opa, made by scripts/prepare-opa.js):
//   opa build -b <staging> -t wasm -e toolgate/decision
// The staging directory holds the Rego sources (tests excluded), data files and a .manifest
// whose revision and metadata.source_sha256 are derived from the sources, so a test can prove
// the committed bundle is up to date (test/policy/default-bundle.test.ts).
//
// Usage: node scripts/build-policy.js [--check]
//   --check  build into a temporary file and exit 1 if the committed bundle differs (manifest or
//            policy.wasm), without touching it.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const srcDir = join(root, 'policy', 'src')
const out = join(root, 'policy', 'default-bundle.tar.gz')
const opa = join(root, '.cache', 'bin', 'opa')
export const ENTRYPOINT = 'toolgate/decision'
export const ROOTS = ['toolgate', 'toolgate_defaults']

function fail(msg) {
  console.error(`build-policy: ${msg}`)
  process.exit(1)
}

/** Files that go into the bundle: everything under policy/src except Rego tests, sorted. */
export function sourceFiles(dir = srcDir) {
  const files = []
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && !e.name.endsWith('_test.rego') && !e.name.startsWith('.')) files.push(relative(dir, p).split(sep).join('/'))
    }
  }
  walk(dir)
  return files.sort()
}

/** sha256 over (path NUL bytes NUL) of every source file, in path order. */
export function sourceHash(dir = srcDir) {
  const h = createHash('sha256')
  for (const f of sourceFiles(dir)) h.update(f).update('\0').update(readFileSync(join(dir, f))).update('\0')
  return h.digest('hex')
}

function opaVersion() {
  const goMod = readFileSync(join(root, 'policy', 'opa', 'go.mod'), 'utf8')
  return /github\.com\/open-policy-agent\/opa\s+(v\S+)/.exec(goMod)?.[1] ?? 'unknown'
}

export function buildDefaultBundle(target) {
  if (!existsSync(opa)) {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'prepare-opa.js'), '--no-rego'], { stdio: 'inherit' })
    if (r.status !== 0) fail('cannot prepare the OPA CLI')
  }
  const hash = sourceHash()
  const staging = mkdtempSync(join(tmpdir(), 'toolgate-policy-'))
  try {
    for (const f of sourceFiles()) {
      mkdirSync(dirname(join(staging, f)), { recursive: true })
      copyFileSync(join(srcDir, f), join(staging, f))
    }
    const manifest = {
      revision: `default-${hash.slice(0, 12)}`,
      roots: ROOTS,
      metadata: { source_sha256: hash, opa_version: opaVersion(), entrypoint: ENTRYPOINT },
    }
    writeFileSync(join(staging, '.manifest'), JSON.stringify(manifest, null, 2) + '\n')
    const tmpOut = resolve(`${target}.tmp-${process.pid}`)
    // cwd = staging and path "." so the bundle's file names are /toolgate/decision.rego etc.
    const r = spawnSync(opa, ['build', '-b', '.', '-t', 'wasm', '-e', ENTRYPOINT, '-o', tmpOut], { stdio: 'inherit', cwd: staging })
    if (r.status !== 0) fail(`opa build failed (exit ${r.status ?? r.signal})`)
    renameSync(tmpOut, target)
    return manifest
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

/** The files of a .tar.gz as name -> bytes (uses the system tar: this script has no npm deps). */
function listBundle(file) {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-bundle-'))
  try {
    const r = spawnSync('tar', ['-xzf', file, '-C', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
    if (r.status !== 0) fail(`cannot unpack ${file}`)
    const files = new Map()
    const walk = (d) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name)
        if (e.isDirectory()) walk(p)
        else files.set(relative(dir, p).split(sep).join('/'), readFileSync(p))
      }
    }
    walk(dir)
    return files
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) {
    const tmp = join(mkdtempSync(join(tmpdir(), 'toolgate-check-')), 'bundle.tar.gz')
    buildDefaultBundle(tmp)
    if (!existsSync(out)) fail(`${out} is missing: run npm run policy:build`)
    const want = listBundle(tmp)
    const have = listBundle(out)
    const diff = [...new Set([...want.keys(), ...have.keys()])].filter((k) => !want.get(k)?.equals(have.get(k) ?? Buffer.alloc(0)))
    rmSync(dirname(tmp), { recursive: true, force: true })
    if (diff.length > 0) fail(`${relative(root, out)} is out of date (${diff.join(', ')} differ): run npm run policy:build`)
    console.log(`build-policy: ${relative(root, out)} is up to date`)
  } else {
    const m = buildDefaultBundle(out)
    console.log(`build-policy: wrote ${relative(root, out)} (revision ${m.revision})`)
  }
}
