// Container images for the live-node tests, built without a registry or a Docker daemon: a root
// filesystem folder is packed as a one-layer `docker save` tar (manifest.json + config + layer)
// that `ctr images import` loads into containerd.
//   toolgate  the image the Dockerfile builds: scripts/image-rootfs.js, the script the Dockerfile
//             runs, assembles the tree here too, from `npm run build` output (image.test.ts checks
//             that the two agree)
//   agent     the toolgate tree (for `toolgate selftest`) plus curl and Python 3 with the
//             libraries they load, running as UID 1000
//   pause     the sandbox's static pause binary (scripts/prepare-kube.js)
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'
// @ts-expect-error plain JS module without types (shared with the Dockerfile)
import { buildRootfs, IMAGE_CONFIG, sharedLibraries } from '../../scripts/image-rootfs.js'

export interface ImageConfig {
  Entrypoint?: string[]
  Cmd?: string[]
  User?: string
  WorkingDir?: string
  Env?: string[]
}

export const TOOLGATE_IMAGE_CONFIG = IMAGE_CONFIG as Required<ImageConfig>
export const AGENT_UID = 1000

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** Packs `rootfs` as a docker-save tar at `out` tagged `ref` (one layer, numeric owners kept). */
export function packImage(rootfs: string, ref: string, config: ImageConfig, out: string): void {
  const work = `${out}.d`
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  // GNU tar: sorted names and a fixed mtime make the layer (and its digest) reproducible.
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--numeric-owner', '-C', rootfs, '-cf', join(work, 'layer.tar'), '.'])
  const layer = readFileSync(join(work, 'layer.tar'))
  const diffId = sha256(layer)
  mkdirSync(join(work, diffId))
  writeFileSync(join(work, diffId, 'layer.tar'), layer)
  rmSync(join(work, 'layer.tar'))
  const cfg = JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config,
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'toolgate test/k8s/images.ts' }],
  })
  const cfgName = `${sha256(cfg)}.json`
  writeFileSync(join(work, cfgName), cfg)
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: [ref], Layers: [`${diffId}/layer.tar`] }]))
  execFileSync('tar', ['--sort=name', '--mtime=@0', '-C', work, '-cf', out, '.'])
  rmSync(work, { recursive: true, force: true })
}

/**
 * `npm run build` (into `<out>.dist`, not the shared dist/: other tests build concurrently), then
 * the image tree from the Dockerfile's script. Returns the tree and the build output it holds.
 */
export function toolgateRootfs(out: string): { tree: string; dist: string } {
  const dist = `${out}.dist`
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/build.js'), '--out', dist], { cwd: repoRoot, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`)
  buildRootfs({ out, dist, xtables: '/usr/sbin/xtables-legacy-multi' })
  return { tree: out, dist }
}

function place(root: string, src: string): void {
  const target = join(root, src)
  mkdirSync(dirname(target), { recursive: true })
  copyFileSync(realpathSync(src), target)
}

/** The agent tree: the toolgate tree + curl + Python 3 (stdlib and the libraries they load). */
export function agentRootfs(toolgateTree: string, out: string): string {
  rmSync(out, { recursive: true, force: true })
  cpSync(toolgateTree, out, { recursive: true, verbatimSymlinks: true })
  const python = realpathSync('/usr/bin/python3')
  const stdlib = dirname(python).replace(/bin$/, `lib/${python.split('/').pop()}`)
  if (!existsSync(stdlib)) throw new Error(`Python stdlib ${stdlib} missing (Debian: apt-get install python3)`)
  const elfs = ['/usr/bin/curl', python]
  place(out, '/usr/bin/curl')
  place(out, python)
  cpSync(python, join(out, 'usr/bin/python3'))
  cpSync(stdlib, join(out, stdlib), { recursive: true, filter: (s) => !/\/(test|tests|idlelib|tkinter|__pycache__|ensurepip)(\/|$)/.test(s) })
  const dynload = join(stdlib, 'lib-dynload')
  for (const f of readdirSync(dynload)) if (f.endsWith('.so')) elfs.push(join(dynload, f))
  for (const lib of new Set<string>(elfs.flatMap((e) => sharedLibraries(e) as string[]))) place(out, lib)
  writeFileSync(join(out, 'etc/passwd'), `${readFileSync(join(out, 'etc/passwd'), 'utf8')}agent:x:${AGENT_UID}:${AGENT_UID}:agent:/tmp:/nonexistent\n`)
  return out
}

export function pauseRootfs(pauseBin: string, out: string): string {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  copyFileSync(pauseBin, join(out, 'pause'))
  chmodSync(join(out, 'pause'), 0o755)
  return out
}

/** Every path in a tree with its type and mode, links with their target (what image.test.ts compares). */
export function treeListing(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name)
      const st = lstatSync(p)
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isSymbolicLink()) out.push(`${rel}/${name} -> ${readlinkSync(p)}`)
      else out.push(`${rel}/${name} ${st.isDirectory() ? 'd' : 'f'} ${mode}`)
      if (st.isDirectory()) walk(p, `${rel}/${name}`)
    }
  }
  walk(root, '')
  return out
}
