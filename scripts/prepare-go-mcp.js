// Builds the test MCP server under test/mcp/go-server with the official Go SDK twice: with go.mod
// (the current SDK) and with vulnerable.mod (github.com/modelcontextprotocol/go-sdk v1.2.0, before
// the case-insensitive JSON fix of CVE-2026-27896). The tests use both to show that a folded key
// reaches a vulnerable Go server unless toolgate refuses it. Binaries are cached per machine like
// OPA (scripts/prepare-opa.js): the key is a hash of the module files, so a changed pin rebuilds.
//
// Output: <repo>/.cache/bin/go-mcp-server-current and go-mcp-server-vulnerable.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const modDir = join(root, 'test', 'mcp', 'go-server')
const cacheRoot = process.env.TOOLGATE_CACHE || join(homedir(), '.cache', 'toolgate')

function fail(msg) {
  console.error(`prepare-go-mcp: ${msg}`)
  process.exit(1)
}

function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (spawnSync(candidate, ['version'], { stdio: 'ignore' }).status === 0) return candidate
  }
  fail('no Go toolchain (scripts/prepare-opa.js installs one from apt when run as root)')
}

const variants = [
  { name: 'current', mod: 'go.mod', sum: 'go.sum' },
  { name: 'vulnerable', mod: 'vulnerable.mod', sum: 'vulnerable.sum' },
]
const binDir = join(root, '.cache', 'bin')
mkdirSync(binDir, { recursive: true })
for (const v of variants) {
  const hash = createHash('sha256')
  for (const f of [v.mod, v.sum, 'main.go']) hash.update(f).update('\0').update(readFileSync(join(modDir, f)))
  const sdk = /github\.com\/modelcontextprotocol\/go-sdk\s+(v\S+)/.exec(readFileSync(join(modDir, v.mod), 'utf8'))?.[1]
  if (!sdk) fail(`${v.mod} does not pin github.com/modelcontextprotocol/go-sdk`)
  const cachedDir = join(cacheRoot, 'go-mcp-server', `${v.name}-${sdk}-${hash.digest('hex').slice(0, 16)}`)
  const cached = join(cachedDir, 'go-mcp-server')
  if (!existsSync(cached)) {
    mkdirSync(cachedDir, { recursive: true })
    const tmp = join(cachedDir, `bin.tmp-${process.pid}`)
    console.log(`prepare-go-mcp: building the test MCP server with go-sdk ${sdk} (${v.name})`)
    const started = Date.now()
    const r = spawnSync(findGo(), ['build', '-trimpath', '-buildvcs=false', `-modfile=${v.mod}`, '-ldflags=-s -w', '-o', tmp, '.'], {
      cwd: modDir,
      stdio: 'inherit',
      env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly`.trim(), GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto' },
    })
    if (r.status !== 0) fail(`go build (${v.name}) exited ${r.status ?? r.signal}`)
    renameSync(tmp, cached)
    console.log(`prepare-go-mcp: built ${v.name} in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  }
  const target = join(binDir, `go-mcp-server-${v.name}`)
  if (!existsSync(target) || statSync(target).size !== statSync(cached).size) {
    const tmp = `${target}.tmp-${process.pid}`
    rmSync(tmp, { force: true })
    copyFileSync(cached, tmp)
    renameSync(tmp, target)
  }
  console.log(`prepare-go-mcp: ${target} (go-sdk ${sdk})`)
}
