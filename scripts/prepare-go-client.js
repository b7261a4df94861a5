// Builds the Go net/http client of the client matrix (test/clients/go-client, standard library
// only) and caches it per machine like the other Go tools (scripts/prepare-go-mcp.js): the key is
// a hash of its sources and the Go version, so a change rebuilds. Cold build: ~3 s.
//
// Output: <repo>/.cache/bin/go-http-client.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const modDir = join(root, 'test', 'clients', 'go-client')
const cacheRoot = process.env.TOOLGATE_CACHE || join(homedir(), '.cache', 'toolgate')

function fail(msg) {
  console.error(`prepare-go-client: ${msg}`)
  process.exit(1)
}

function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (spawnSync(candidate, ['version'], { stdio: 'ignore' }).status === 0) return candidate
  }
  fail('no Go toolchain (scripts/prepare-opa.js installs one from apt when run as root)')
}

const go = findGo()
const version = spawnSync(go, ['version'], { encoding: 'utf8' }).stdout.trim()
const hash = createHash('sha256').update(version)
for (const f of ['go.mod', 'main.go']) hash.update(f).update('\0').update(readFileSync(join(modDir, f)))
const cachedDir = join(cacheRoot, 'go-http-client', hash.digest('hex').slice(0, 16))
const cached = join(cachedDir, 'go-http-client')
if (!existsSync(cached)) {
  mkdirSync(cachedDir, { recursive: true })
  const tmp = join(cachedDir, `bin.tmp-${process.pid}`)
  const started = Date.now()
  const r = spawnSync(go, ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', tmp, '.'], {
    cwd: modDir,
    stdio: 'inherit',
    env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim(), GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local' },
  })
  if (r.status !== 0) fail(`go build exited ${r.status ?? r.signal}`)
  renameSync(tmp, cached)
  console.log(`prepare-go-client: built in ${((Date.now() - started) / 1000).toFixed(1)}s`)
}
const binDir = join(root, '.cache', 'bin')
mkdirSync(binDir, { recursive: true })
const target = join(binDir, 'go-http-client')
if (!existsSync(target) || statSync(target).size !== statSync(cached).size) {
  const tmp = `${target}.tmp-${process.pid}`
  rmSync(tmp, { force: true })
  copyFileSync(cached, tmp)
  renameSync(tmp, target)
}
console.log(`prepare-go-client: ${target}`)
