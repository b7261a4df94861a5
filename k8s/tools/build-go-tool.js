// Shared by scripts/prepare-helm.js and scripts/prepare-kube.js: builds one Go command from a tiny
// wrapper module under k8s/tools/<module>, caches the binary per machine and copies it to
// <repo>/.cache/bin/<name>, where test/helpers/tools.ts toolPath(name) finds it.
//
// Cache key: the pinned version (read from the wrapper's go.mod) plus a hash of go.mod, go.sum and
// any *.go file, so a changed pin or dependency set builds a new binary and an unchanged one is a
// file copy (or nothing). Plain JS, node:* only, so it runs on a fresh machine before npm ci.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** The per-machine cache of built tools (shared by every worktree and clone). */
export const cacheRoot = process.env.TOOLGATE_CACHE || join(homedir(), '.cache', 'toolgate')

/**
 * Where a tool's binary lives: `cached` (per machine, one folder per cache key) and `target`
 * (this checkout's .cache/bin, where test/helpers/tools.ts looks). Computed here once for every
 * builder.
 */
export function toolPaths(name, key) {
  const cachedDir = join(cacheRoot, name, key)
  const binDir = join(repoRoot, '.cache', 'bin')
  return { cachedDir, cached: join(cachedDir, name), binDir, target: join(binDir, name) }
}

/** Copies the cached binary to .cache/bin unless the same bytes are already there (atomic rename). */
function placeInBin({ cached, binDir, target }) {
  mkdirSync(binDir, { recursive: true })
  const same = existsSync(target) && statSync(target).size === statSync(cached).size && fileHash(target) === fileHash(cached)
  if (same) return
  const tmp = `${target}.tmp-${process.pid}`
  rmSync(tmp, { force: true })
  copyFileSync(cached, tmp)
  renameSync(tmp, target)
}

function fail(label, msg) {
  console.error(`${label}: ${msg}`)
  process.exit(1)
}

function fileHash(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/**
 * @param {object} o
 * @param {string} o.label      prefix for messages, e.g. 'prepare-kube'
 * @param {string} o.name       binary name in .cache/bin
 * @param {string} o.module     folder under k8s/tools holding the wrapper go.mod
 * @param {string} [o.dir]      the wrapper's folder relative to the repository, when not k8s/tools/<module>
 * @param {string | null} o.pinned module path whose required version is the cache key's version; null: standard library only (the Go version is in the key)
 * @param {string} o.pkg        package to build ('.' for the wrapper's own main.go)
 * @param {string[] | null} [o.versionArgs] arguments that make the binary print its version (sanity check); null: the binary has none
 * @param {(version: string) => string[]} [o.ldflagsX] extra `-X` settings (part of the cache key)
 * @returns {string} the path in .cache/bin
 */
export function buildGoTool({ label, name, module, dir = join('k8s', 'tools', module), pinned, pkg, versionArgs = ['--version'], ldflagsX = () => [] }) {
  const modDir = join(repoRoot, dir)
  const goMod = readFileSync(join(modDir, 'go.mod'), 'utf8')
  let version = 'std' // pinned null: a standard-library-only program (the Go version is in the key below)
  if (pinned !== null) {
    const esc = pinned.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    const m = new RegExp(`^\\s*(?:require\\s+)?${esc}\\s+(v\\S+)`, 'm').exec(goMod)
    if (!m) fail(label, `${dir}/go.mod does not pin ${pinned}`)
    version = m[1]
  }

  const ldflags = ['-s', '-w', ...ldflagsX(version).map((x) => `-X=${x}`)].join(' ')
  const hash = createHash('sha256').update(ldflags).update('\0')
  if (pinned === null) hash.update(spawnSync('go', ['version'], { encoding: 'utf8' }).stdout ?? '').update('\0')
  const inputs = readdirSync(modDir).filter((f) => f === 'go.mod' || f === 'go.sum' || f.endsWith('.go')).sort()
  for (const f of inputs) hash.update(f).update('\0').update(readFileSync(join(modDir, f)))
  const key = `${version}-${hash.digest('hex').slice(0, 16)}`

  const paths = toolPaths(name, key)
  const { cachedDir, cached, target } = paths
  if (!existsSync(cached)) {
    mkdirSync(cachedDir, { recursive: true })
    const tmp = join(cachedDir, `${name}.tmp-${process.pid}`)
    console.log(`${label}: building ${name} ${version} (cache key ${key}); the first build takes minutes`)
    const started = Date.now()
    // nice: the machine is shared. -trimpath: binary independent of the checkout path.
    // -mod=readonly: go.sum must already be complete (committed), never silently rewritten.
    const goArgs = ['go', 'build', '-trimpath', `-ldflags=${ldflags}`, '-o', tmp, pkg]
    const hasNice = spawnSync('nice', ['--version'], { stdio: 'ignore' }).status === 0
    const r = spawnSync(hasNice ? 'nice' : 'go', hasNice ? ['-n', '10', ...goArgs] : goArgs.slice(1), {
      cwd: modDir,
      stdio: 'inherit',
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim() },
    })
    if (r.error) fail(label, `go: ${r.error.message}`)
    if (r.status !== 0) {
      rmSync(tmp, { force: true })
      fail(label, `go build ${pkg} exited ${r.status ?? r.signal}`)
    }
    renameSync(tmp, cached) // atomic: a concurrent run sees either no binary or a whole one
    console.log(`${label}: built ${name} in ${((Date.now() - started) / 1000).toFixed(0)}s`)
  }

  placeInBin(paths)
  if (versionArgs === null) {
    console.log(`${label}: ${target} (${version})`)
    return target
  }
  const v = spawnSync(target, versionArgs, { encoding: 'utf8' })
  if (v.status !== 0) fail(label, `${target} ${versionArgs.join(' ')} exited ${v.status ?? v.signal}: ${v.stderr}`)
  console.log(`${label}: ${target} (${(v.stdout || v.stderr).trim().split('\n')[0]})`)
  return target
}

/**
 * Builds one C program (one source file) with gcc, cached per machine like buildGoTool: the key
 * is a hash of the source and the flags; the binary lands in <repo>/.cache/bin/<name>.
 * @param {object} o
 * @param {string} o.label
 * @param {string} o.name
 * @param {string} o.source  absolute path of the .c file
 * @param {string[]} o.flags gcc flags
 * @param {string[]} [o.versionArgs]
 * @returns {string} the path in .cache/bin
 */
export function buildCTool({ label, name, source, flags, versionArgs = ['--version'] }) {
  if (!existsSync(source)) fail(label, `${source} missing`)
  const key = createHash('sha256').update(flags.join(' ')).update('\0').update(readFileSync(source)).digest('hex').slice(0, 16)
  const paths = toolPaths(name, key)
  const { cachedDir, cached, target } = paths
  if (!existsSync(cached)) {
    mkdirSync(cachedDir, { recursive: true })
    const tmp = join(cachedDir, `${name}.tmp-${process.pid}`)
    const started = Date.now()
    const r = spawnSync('gcc', [...flags, '-o', tmp, source], { stdio: 'inherit' })
    if (r.error) fail(label, `gcc: ${r.error.message} (Debian: apt-get install gcc libc6-dev)`)
    if (r.status !== 0) {
      rmSync(tmp, { force: true })
      fail(label, `gcc ${source} exited ${r.status ?? r.signal}`)
    }
    renameSync(tmp, cached)
    console.log(`${label}: built ${name} in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  }
  placeInBin(paths)
  const v = spawnSync(target, versionArgs, { encoding: 'utf8' })
  if (v.status !== 0) fail(label, `${target} ${versionArgs.join(' ')} exited ${v.status ?? v.signal}`)
  console.log(`${label}: ${target} (${(v.stdout || v.stderr).trim().split('\n')[0]})`)
  return target
}
