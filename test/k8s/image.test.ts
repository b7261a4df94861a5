// The image users build (Dockerfile) and the image the live-node tests run (test/k8s/images.ts)
// agree: both are the tree scripts/image-rootfs.js assembles after `npm run build`, with the same
// entrypoint, user, working directory and environment. Docker cannot run here (no daemon, no base
// images), so the Dockerfile is checked as text against what the harness does, and the harness's
// tree is checked for real: it runs with no shell, as UID 15337, from a chroot.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'
import { packImage, toolgateRootfs, treeListing, TOOLGATE_IMAGE_CONFIG } from './images.ts'

const isRoot = process.getuid?.() === 0
const hasIptables = existsSync('/usr/sbin/xtables-legacy-multi')

interface Instruction { op: string; args: string }
interface Stage { from: string; name: string | null; steps: Instruction[] }

/** Dockerfile → stages of instructions (line continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line)
    if (!m) throw new Error(`unparsed Dockerfile line: ${line}`)
    const [, op, args] = m as unknown as [string, string, string]
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!
      stages.push({ from: f[1]!, name: f[2] ?? null, steps: [] })
    } else {
      stages.at(-1)!.steps.push({ op, args: args.replace(/\s+/g, ' ') })
    }
  }
  return stages
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))
const final = dockerfile.at(-1)!
const build = dockerfile.find((s) => s.name === 'build')!

t.test('the final stage is exactly the tree: FROM scratch, one COPY of /rootfs, no RUN', async (t) => {
  t.equal(final.from, 'scratch', 'nothing from a base image (no shell, no package manager)')
  const copies = final.steps.filter((s) => s.op === 'COPY')
  t.same(copies.map((c) => c.args), ['--from=build /rootfs /'])
  t.notOk(final.steps.some((s) => s.op === 'RUN'), 'nothing runs in the final stage (it has no shell)')
})

t.test('the Dockerfile\'s image config is the one the harness writes into its image', async (t) => {
  const get = (op: string) => final.steps.filter((s) => s.op === op).map((s) => s.args)
  t.same(get('USER'), [TOOLGATE_IMAGE_CONFIG.User])
  t.same(get('WORKDIR'), [TOOLGATE_IMAGE_CONFIG.WorkingDir])
  t.same(get('ENTRYPOINT').map((a) => JSON.parse(a) as string[]), [TOOLGATE_IMAGE_CONFIG.Entrypoint], 'exec form: no shell')
  t.same(get('CMD').map((a) => JSON.parse(a) as string[]), [TOOLGATE_IMAGE_CONFIG.Cmd])
  t.same(get('ENV').flatMap((a) => a.split(' ')), TOOLGATE_IMAGE_CONFIG.Env)
  t.equal(TOOLGATE_IMAGE_CONFIG.User, '15337:15337', 'the sidecar UID the chart exempts from the redirect')
})

t.test('the build stage runs the same two steps as the harness, with every input it reads', async (t) => {
  t.match(build.from, /^node:24[.-]/, 'Node 24 builds and runs it')
  const runs = build.steps.filter((s) => s.op === 'RUN').map((s) => s.args)
  t.ok(runs.some((r) => r.includes('node scripts/build.js && node scripts/image-rootfs.js /rootfs')), 'npm run build, then the rootfs script (what toolgateRootfs() runs)')
  const copied = build.steps.filter((s) => s.op === 'COPY').flatMap((s) => s.args.split(' ').slice(0, -1))
  const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  // What scripts/build.js and scripts/image-rootfs.js read from the checkout.
  const inputs = ['package.json', 'package-lock.json', 'tsconfig.json', 'bin/toolgate.js', 'proxy/src/cli.ts', 'scripts/build.js', 'scripts/build-undici.js',
    'scripts/image-rootfs.js', 'config/toolgate.schema.json', 'config/toolgate.default.yaml', 'policy/default-bundle.tar.gz']
  for (const f of inputs) {
    t.ok(existsSync(join(repoRoot, f)), `${f} exists`)
    t.ok(copied.some((c) => f === c || f.startsWith(`${c.replace(/\/$/, '')}/`)), `${f} is copied into the build stage`)
    t.notOk(ignored.some((i) => f === i || f.startsWith(`${i}/`)), `${f} is not in .dockerignore`)
  }
})

t.test('the harness tree: the dist/ bundle, Node, iptables, the user, and no shell', { skip: !hasIptables ? 'iptables not installed (apt-get install iptables)' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-image-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const built = toolgateRootfs(join(dir, 'rootfs'))
  const tree = built.tree
  const listing = treeListing(tree)
  const dist = treeListing(built.dist).map((l) => `/app${l}`)
  t.same(listing.filter((l) => l.startsWith('/app/')), dist, '/app is exactly the npm run build output')
  for (const p of ['/usr/local/bin/node f 755', '/usr/sbin/xtables-legacy-multi f 755', '/usr/sbin/iptables-restore -> xtables-legacy-multi', '/usr/sbin/ip6tables -> xtables-legacy-multi', '/tmp d 1777', '/run d 1777']) {
    t.ok(listing.includes(p), p)
  }
  t.ok(listing.some((l) => /\/xtables\/libxt_owner\.so f/.test(l)) && listing.some((l) => /\/xtables\/libxt_REDIRECT\.so f/.test(l)), 'the owner match and REDIRECT target the rules use')
  t.notOk(listing.some((l) => /\/(sh|bash|dash|busybox|ash)( |$)/.test(l)), 'no shell anywhere')
  t.match(readFileSync(join(tree, 'etc/passwd'), 'utf8'), /^toolgate:x:15337:15337:/m)
  if (isRoot) {
    // Only the image's own environment (env -i): tap adds NODE_OPTIONS to every child it spawns,
    // which would load tap's hooks from outside the tree.
    const inTree = (args: string[]) => spawnSync('env', ['-i', ...TOOLGATE_IMAGE_CONFIG.Env, 'chroot', ...args], { encoding: 'utf8' })
    const v = inTree(['--userspec=15337:15337', tree, ...TOOLGATE_IMAGE_CONFIG.Entrypoint, '--version'])
    t.equal(v.status, 0, v.stderr)
    t.match(v.stdout, /^toolgate \d+\.\d+\.\d+/, 'the entrypoint runs as 15337 with only the tree')
    const ipt = spawnSync('chroot', [tree, '/usr/sbin/iptables-restore', '--version'], { encoding: 'utf8' })
    t.equal(ipt.status, 0, ipt.stderr)
    t.match(ipt.stdout, /legacy/)
    const dry = inTree([tree, ...TOOLGATE_IMAGE_CONFIG.Entrypoint, 'iptables', 'install', '--proxy-uid', '15337', '--dry-run'])
    t.equal(dry.status, 0, dry.stderr)
  }
  // Packing: a docker-save tar whose manifest names the layer and config.
  const tar = join(dir, 'toolgate.tar')
  packImage(tree, 'toolgate.test/toolgate:1', TOOLGATE_IMAGE_CONFIG, tar)
  const names = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.split('\n')
  t.ok(names.includes('./manifest.json'))
  const manifest = JSON.parse(spawnSync('tar', ['-xOf', tar, './manifest.json'], { encoding: 'utf8' }).stdout) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>
  t.same(manifest[0]!.RepoTags, ['toolgate.test/toolgate:1'])
  const config = JSON.parse(spawnSync('tar', ['-xOf', tar, `./${manifest[0]!.Config}`], { encoding: 'utf8' }).stdout) as { config: unknown }
  t.same(config.config, TOOLGATE_IMAGE_CONFIG)
})
