// Builds the OPA CLI from the Go module under policy/opa (version pinned in its go.mod), caches the
// binary per machine, copies it to <repo>/.cache/bin/opa, then runs `opa check --strict`,
// `opa fmt --list` and `opa test` over the default policy so that `npm test` covers the Rego too.
//
// Idempotent and fast when cached: the cache key is the pinned OPA version plus a hash of
// go.mod, go.sum and main.go, so a changed pin or dependency set builds a new binary.
// `go install github.com/open-policy-agent/opa@version` is refused (OPA's go.mod has a replace),
// hence the tiny wrapper module.
//
// Usage: node scripts/prepare-opa.js [--no-rego]
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const modDir = join(root, 'policy', 'opa')

function fail(msg) {
  console.error(`prepare-opa: ${msg}`)
  process.exit(1)
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts })
  if (r.error) fail(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}`)
}

const goMod = readFileSync(join(modDir, 'go.mod'), 'utf8')
const m = /^\s*(?:require\s+)?github\.com\/open-policy-agent\/opa\s+(v\S+)/m.exec(goMod)
if (!m) fail('policy/opa/go.mod does not pin github.com/open-policy-agent/opa')
const version = m[1]

const hash = createHash('sha256')
for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(f).update('\0').update(readFileSync(join(modDir, f)))
const key = `${version}-${hash.digest('hex').slice(0, 16)}`

const cacheRoot = process.env.TOOLGATE_CACHE || join(homedir(), '.cache', 'toolgate')
const cachedDir = join(cacheRoot, 'opa', key)
const cached = join(cachedDir, 'opa')

/** The go command: on PATH, in /usr/local/go, or installed from Debian apt on a fresh machine.
 * An older distro Go is fine: go.mod's `go` line makes it fetch the required toolchain from the
 * Go module proxy (GOTOOLCHAIN=auto). */
function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (spawnSync(candidate, ['version'], { stdio: 'ignore' }).status === 0) return candidate
  }
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0) {
    console.log('prepare-opa: no Go toolchain found; installing golang-go from apt')
    run('apt-get', ['update'])
    run('apt-get', ['install', '-y', '--no-install-recommends', 'golang-go', 'ca-certificates', 'git'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0) return 'go'
  }
  fail('no Go toolchain: install Go (https://go.dev/dl) or run as root on Debian/Ubuntu so apt can install it')
}

if (!existsSync(cached)) {
  mkdirSync(cachedDir, { recursive: true })
  const tmp = join(cachedDir, `opa.tmp-${process.pid}`)
  console.log(`prepare-opa: building OPA ${version} (cache key ${key}); this takes a few minutes the first time`)
  // nice: the machine is shared; -trimpath keeps the binary independent of the checkout path.
  const goArgs = [findGo(), 'build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', tmp, '.']
  const hasNice = spawnSync('nice', ['--version'], { stdio: 'ignore' }).status === 0
  run(hasNice ? 'nice' : goArgs[0], hasNice ? ['-n', '10', ...goArgs] : goArgs.slice(1), {
    cwd: modDir,
    env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim(), GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto' },
  })
  renameSync(tmp, cached) // atomic: a concurrent run sees either no binary or a whole one
}

const binDir = join(root, '.cache', 'bin')
const target = join(binDir, 'opa')
mkdirSync(binDir, { recursive: true })
const same = existsSync(target) && statSync(target).size === statSync(cached).size &&
  createHash('sha256').update(readFileSync(target)).digest('hex') ===
    createHash('sha256').update(readFileSync(cached)).digest('hex')
if (!same) {
  const tmp = `${target}.tmp-${process.pid}`
  rmSync(tmp, { force: true })
  copyFileSync(cached, tmp)
  renameSync(tmp, target)
}
run(target, ['version'], { stdio: ['ignore', 'ignore', 'inherit'] })
console.log(`prepare-opa: ${target} (OPA ${version})`)

if (!process.argv.includes('--no-rego')) {
  const src = join(root, 'policy', 'src')
  run(target, ['check', '--strict', src])
  const fmt = spawnSync(target, ['fmt', '--list', src], { encoding: 'utf8' })
  if (fmt.status !== 0 || fmt.stdout.trim() !== '') fail(`Rego files not in opa fmt form (run .cache/bin/opa fmt -w policy/src): ${fmt.stdout.trim()} ${fmt.stderr ?? ''}`)
  const r = spawnSync(target, ['test', src], { encoding: 'utf8' })
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '')
    process.stderr.write(r.stderr ?? '')
    fail(`opa test ${src} failed`)
  }
  console.log(`prepare-opa: opa check --strict, opa fmt ok; opa test: ${(r.stdout.trim().split('\n').pop() ?? '').trim()}`)
}
