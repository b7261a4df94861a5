// Assembles the root filesystem of the toolgate image in one folder. The Dockerfile runs it in
// its build stage and copies the folder into an empty (`FROM scratch`) final stage; the test
// harness (test/k8s/images.ts) runs the same script on the test machine and packs the folder as a
// `docker save` tar for containerd, because tests cannot pull base images. One script for both, so
// the image the tests run is the image users build (test/k8s/image.test.ts checks the two agree).
//
// The tree holds only what the three uses of the image execute, and no shell:
//   /usr/local/bin/node                 the Node 24 runtime (the one running this script)
//   /app/...                            `npm run build` output (dist/): bin/toolgate.js + bundles
//   /usr/sbin/xtables-legacy-multi      iptables for `toolgate iptables install` (init container),
//     + iptables/ip6tables(-restore|-save) links and its extensions (owner match, REDIRECT, ...)
//   the shared libraries those binaries load (found with ldd), /etc/passwd and /etc/group with
//   the sidecar's user (15337) and root (init container), an empty /tmp and /run.
// Usage: node scripts/image-rootfs.js OUT_DIR [--dist DIR] [--xtables PATH]
// Plain JS, node:* only. Needs ldd (glibc) and iptables installed where it runs.
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export const IMAGE_UID = 15337
/** The image's entrypoint and user, shared with the Dockerfile (image.test.ts compares them). */
export const IMAGE_CONFIG = {
  Entrypoint: ['/usr/local/bin/node', '/app/bin/toolgate.js'],
  User: `${IMAGE_UID}:${IMAGE_UID}`,
  WorkingDir: '/app',
  Env: ['NODE_ENV=production', 'PATH=/usr/local/bin:/usr/sbin:/usr/bin'],
  Cmd: ['--help'],
}
const IPTABLES_LINKS = ['iptables', 'iptables-restore', 'iptables-save', 'ip6tables', 'ip6tables-restore', 'ip6tables-save']

function fail(msg) {
  console.error(`image-rootfs: ${msg}`)
  process.exit(1)
}

/** Shared libraries (absolute paths as the loader finds them) of an ELF file, via ldd. */
export function sharedLibraries(file) {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' })
  if (r.error) fail(`ldd: ${r.error.message}`)
  // A static binary: ldd says "not a dynamic executable" and exits 1.
  if (r.status !== 0) return []
  const libs = []
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m) libs.push(m[1])
    else if (/not found/.test(line)) fail(`${file}: ${line.trim()}`)
  }
  return libs
}

/** Copies `src` (following links) to the same absolute path under `root`, keeping its mode. */
function place(root, src, dest = src) {
  const target = join(root, dest)
  mkdirSync(dirname(target), { recursive: true })
  copyFileSync(realpathSync(src), target)
}

export function buildRootfs({ out, dist, xtables, node = process.execPath }) {
  if (!existsSync(join(dist, 'bin', 'toolgate.js'))) fail(`${dist}/bin/toolgate.js missing: run npm run build first`)
  if (!existsSync(xtables)) fail(`${xtables} missing: install iptables (Debian package iptables)`)
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })

  cpSync(dist, join(out, 'app'), { recursive: true })
  place(out, node, '/usr/local/bin/node')
  place(out, xtables, '/usr/sbin/xtables-legacy-multi')
  for (const l of IPTABLES_LINKS) symlinkSync('xtables-legacy-multi', join(out, 'usr/sbin', l))

  // iptables loads its match/target extensions (libxt_owner.so, libxt_REDIRECT.so, ...) at run time.
  const elfs = [node, xtables]
  const extDir = ['/usr/lib/x86_64-linux-gnu/xtables', '/usr/lib/aarch64-linux-gnu/xtables', '/usr/lib/xtables', '/usr/lib64/xtables'].find((d) => existsSync(d))
  if (!extDir) fail('iptables extensions folder (xtables) not found')
  for (const f of readdirSync(extDir).filter((f) => f.endsWith('.so'))) {
    place(out, join(extDir, f))
    elfs.push(join(extDir, f))
  }
  const libs = new Set(elfs.flatMap(sharedLibraries))
  for (const lib of libs) place(out, lib)

  mkdirSync(join(out, 'etc'), { recursive: true })
  writeFileSync(join(out, 'etc/passwd'), `root:x:0:0:root:/nonexistent:/nonexistent\ntoolgate:x:${IMAGE_UID}:${IMAGE_UID}:toolgate:/nonexistent:/nonexistent\n`)
  writeFileSync(join(out, 'etc/group'), `root:x:0:\ntoolgate:x:${IMAGE_UID}:\n`)
  // Mount points: /tmp gets an emptyDir in pods (the root filesystem is read-only); /run holds
  // iptables' lock file in the init container (see docs/kubernetes.md).
  for (const d of ['tmp', 'run']) {
    mkdirSync(join(out, d), { recursive: true })
    chmodSync(join(out, d), 0o1777)
  }
  return { files: libs.size + elfs.length }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { dist: { type: 'string' }, xtables: { type: 'string' } },
  })
  if (positionals.length !== 1) fail('usage: node scripts/image-rootfs.js OUT_DIR [--dist DIR] [--xtables PATH]')
  const repo = fileURLToPath(new URL('..', import.meta.url))
  const out = positionals[0]
  const r = buildRootfs({ out, dist: values.dist ?? join(repo, 'dist'), xtables: values.xtables ?? '/usr/sbin/xtables-legacy-multi' })
  console.log(`image-rootfs: ${out} (${r.files} binaries and libraries)`)
}
