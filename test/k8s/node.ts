// A real Kubernetes node for tests: containerd (CRI) + runc + the CNI bridge plugin from Debian,
// and a kubelet v1.37 (scripts/prepare-kube.js) registered with the test control plane
// (cluster.ts). Pods get addresses on a private bridge (10.244.77.0/24 and fd77:244:77::/64)
// that exists only while the test runs; servers the tests start for pods listen on the bridge's
// own addresses. Settings this machine needs are in the notes the issue points to (cgroup v1,
// restrict_oom_score_adj, failCgroupV1: false, protectKernelDefaults).
//
// stop() tears everything down even after a failure: pods' processes (killed through their
// cgroups), containerd shims, containerd, the kubelet, mounts under the node's folder and /run/netns,
// the bridge, the kubelet's and CNI's iptables chains, kubepods cgroups, sysctls the bridge plugin
// changed, and the state folders containerd and CNI create outside the node's folder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Cluster } from './cluster.ts'
import { freePort } from './cluster.ts'

export const BRIDGE = 'tgbr0'
export const NODE_NAME = 'tg-node'
export const NODE_IP = '10.244.77.1'
export const NODE_IP6 = 'fd77:244:77::1'
const POD_SUBNET = '10.244.77.0/24'
const POD_SUBNET6 = 'fd77:244:77::/64'
const CGROUP_ROOT = '/sys/fs/cgroup'
// The kubelet requires these kernel settings (pkg/kubelet/cm setupKernelTunables) and, unless
// protectKernelDefaults, sets them itself. The test sets them explicitly, lets the kubelet only
// verify them (protectKernelDefaults: true: it exits if they differ), and restores the machine's
// values at stop(), like the forwarding switches the CNI bridge plugin turns on.
const KUBELET_SYSCTLS: Record<string, string> = {
  '/proc/sys/vm/overcommit_memory': '1',
  '/proc/sys/vm/panic_on_oom': '0',
  '/proc/sys/kernel/panic': '10',
  '/proc/sys/kernel/panic_on_oops': '1',
  '/proc/sys/kernel/keys/root_maxkeys': '1000000',
  '/proc/sys/kernel/keys/root_maxbytes': '25000000',
}
const SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding', ...Object.keys(KUBELET_SYSCTLS)]

export interface LiveNode {
  dir: string
  containerdSock: string
  /** ctr against this node's containerd (namespace k8s.io, where the CRI keeps its objects). */
  ctr(args: string[], input?: string): { code: number; stdout: string; stderr: string }
  importImage(tar: string): void
  /** Runs `cmd` in a running container (its user, environment and namespaces), bounded by timeoutMs. */
  exec(containerId: string, cmd: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>
  /** PID of a container's first process (for nsenter). */
  pid(containerId: string): number
  logs(): string
  stop(): Promise<void>
  /** After stop(): what is still there that was not before (empty when teardown was complete). */
  leftovers(): string[]
}

/** Why a live node cannot run here, or null. */
export function liveNodeUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root'
  for (const b of ['containerd', 'runc', 'ctr', 'nsenter', 'ip', 'iptables-legacy', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `${b} not installed (.ci/run installs containerd, runc, containernetworking-plugins, iptables)`
  }
  if (!existsSync('/usr/lib/cni/bridge')) return '/usr/lib/cni/bridge missing (containernetworking-plugins)'
  if (!existsSync(join(CGROUP_ROOT, 'memory')) || !existsSync(join(CGROUP_ROOT, 'pids'))) return 'cgroup v1 memory/pids hierarchies not mounted'
  return null
}

function run(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') }
}

function start(bin: string, args: string[], log: string[], label: string): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (b: Buffer) => {
    log.push(`[${label}] ${b.toString()}`)
    if (log.length > 2000) log.splice(0, log.length - 2000) // bounded
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  return child
}

async function stopChild(c: ChildProcess | null, graceMs = 10_000): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  c.kill('SIGTERM')
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Only chains the kubelet (KUBE-*) and the CNI plugins (CNI-*) create are ours to remove: tests
 *  running beside this one may add their own chains to the host's tables meanwhile. */
const OWN_CHAIN = /^(KUBE-|CNI-)/

/** The kubelet's and CNI's chains of every table, for both families, in both iptables backends. */
function chainSnapshot(): Map<string, Set<string>> {
  const snap = new Map<string, Set<string>>()
  for (const bin of ['iptables-legacy', 'ip6tables-legacy', 'iptables-nft', 'ip6tables-nft']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const r = run(bin, ['-w', '5', '-t', table, '-S'])
      if (r.code !== 0) continue
      snap.set(`${bin} ${table}`, new Set(r.stdout.split('\n').filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()).filter((c) => OWN_CHAIN.test(c))))
    }
  }
  return snap
}

/** Deletes chains that were not there before (their jump rules first). */
function removeNewChains(before: Map<string, Set<string>>): void {
  for (const [key, chainsAfter] of chainSnapshot()) {
    const [bin, table] = key.split(' ') as [string, string]
    const old = before.get(key) ?? new Set<string>()
    const added = [...chainsAfter].filter((c) => !old.has(c))
    if (added.length === 0) continue
    const rules = run(bin, ['-w', '5', '-t', table, '-S']).stdout.split('\n')
    for (const rule of rules) {
      const m = /^-A (\S+) (.*)-j (\S+)/.exec(rule)
      if (m && added.includes(m[3]!) && !added.includes(m[1]!)) run(bin, ['-w', '5', '-t', table, ...rule.replace(/^-A /, '-D ').split(' ')])
    }
    for (const c of added) run(bin, ['-w', '5', '-t', table, '-F', c])
    for (const c of added) run(bin, ['-w', '5', '-t', table, '-X', c])
  }
}

/** kubepods* cgroups in every v1 hierarchy, deepest first. */
function kubepodsCgroups(): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    let entries: string[] = []
    try { entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) } catch { return }
    for (const e of entries) walk(join(dir, e))
    out.push(dir)
  }
  let hierarchies: string[] = []
  try { hierarchies = readdirSync(CGROUP_ROOT) } catch { return out }
  for (const h of hierarchies) {
    let top: string[] = []
    try { top = readdirSync(join(CGROUP_ROOT, h)).filter((d) => d.startsWith('kubepods')) } catch { continue }
    for (const d of top) walk(join(CGROUP_ROOT, h, d))
  }
  return out
}

function killCgroupProcs(): void {
  for (const cg of kubepodsCgroups()) {
    let procs: string[] = []
    try { procs = readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter((p) => p !== '') } catch { continue }
    for (const p of procs) { try { process.kill(Number(p), 'SIGKILL') } catch { /* gone */ } }
  }
}

function removeCgroups(): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    killCgroupProcs()
    let left = 0
    for (const cg of kubepodsCgroups()) {
      try { rmdirSync(cg) } catch { left++ }
    }
    if (left === 0) return
    spawnSync('sleep', ['0.25'])
  }
}

/** Processes whose command line contains `needle` (shims of this node's containerd). */
function pidsWith(needle: string): number[] {
  const pids: number[] = []
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) pids.push(Number(p))
    } catch { /* gone */ }
  }
  return pids.filter((p) => p !== process.pid)
}

/** Unmounts every mount point under one of `prefixes`, deepest first. */
function unmountUnder(prefixes: string[]): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined)
  const ours = mounts.filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`))).sort((a, b) => b.length - a.length)
  for (const m of ours) run('umount', ['-l', m])
}

export async function startLiveNode(cluster: Cluster, kubeletBin: string, timeoutMs = 120_000): Promise<LiveNode> {
  const dir = mkdtempSync('/tmp/tg-node-')
  const log: string[] = []
  const existedBefore = Object.fromEntries(['/run/containerd', '/var/lib/cni', '/run/netns', '/var/log/pods', '/var/log/containers', '/var/lib/kubelet', '/etc/cni'].map((p) => [p, existsSync(p)]))
  const netnsBefore = existsSync('/run/netns') ? new Set(readdirSync('/run/netns')) : new Set<string>()
  const sysctlsBefore = SYSCTLS.map((f) => [f, existsSync(f) ? readFileSync(f, 'utf8').trim() : null] as const)
  const chainsBefore = chainSnapshot()
  const sock = join(dir, 'containerd.sock')
  let containerd: ChildProcess | null = null
  let kubelet: ChildProcess | null = null
  let stopped = false

  const stop = async () => {
    if (stopped) return
    stopped = true
    await stopChild(kubelet)
    // Every container process (pause included) lives in a kubepods cgroup.
    killCgroupProcs()
    for (const p of pidsWith(sock)) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
    await stopChild(containerd)
    for (const p of pidsWith(sock)) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
    removeCgroups()
    const newNetns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => !netnsBefore.has(n)) : []
    // /run/containerd only when this node created it (shim sockets live there whatever the config says).
    unmountUnder([dir, ...(existedBefore['/run/containerd'] ? [] : ['/run/containerd']), ...newNetns.map((n) => `/run/netns/${n}`)])
    for (const n of newNetns) rmSync(`/run/netns/${n}`, { force: true })
    run('ip', ['link', 'del', BRIDGE])
    // veths whose peer lived in a deleted netns are gone with it; any left on the bridge go now.
    removeNewChains(chainsBefore)
    for (const [f, v] of sysctlsBefore) if (v !== null) { try { writeFileSync(f, v) } catch { /* read-only */ } }
    for (const [p, existed] of Object.entries(existedBefore)) if (!existed) rmSync(p, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    // A bridge that already exists is a leftover of an interrupted run: start clean.
    run('ip', ['link', 'del', BRIDGE])
    for (const args of [
      ['link', 'add', BRIDGE, 'type', 'bridge'],
      ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE],
      ['-6', 'addr', 'add', `${NODE_IP6}/64`, 'dev', BRIDGE, 'nodad'],
      ['link', 'set', BRIDGE, 'up'],
    ]) {
      const r = run('ip', args)
      if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`)
    }

    mkdirSync(join(dir, 'net.d'), { recursive: true })
    writeFileSync(join(dir, 'net.d', '10-toolgate-test.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: 'toolgate-test',
      plugins: [{
        type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: {
          type: 'host-local', dataDir: join(dir, 'ipam'),
          ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }], [{ subnet: POD_SUBNET6, gateway: NODE_IP6 }]],
          // Routes only to the bridge's own subnets: pods can reach the node and each other, nothing else.
          routes: [{ dst: POD_SUBNET }, { dst: POD_SUBNET6 }],
        },
      }],
    }))
    writeFileSync(join(dir, 'containerd.toml'), `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
[grpc]
  address = "${sock}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "toolgate.test/pause:1"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/net.d"
    max_conf_num = 1
`)
    containerd = start('containerd', ['--config', join(dir, 'containerd.toml'), '--log-level', 'warn'], log, 'containerd')
    for (let i = 0; ; i++) {
      if (containerd.exitCode !== null) throw new Error('containerd exited during start')
      if (run('ctr', ['--address', sock, 'version']).code === 0) break
      if (i > 100) throw new Error('containerd not ready after 20 s')
      await new Promise((r) => setTimeout(r, 200))
    }

    for (const [f, v] of Object.entries(KUBELET_SYSCTLS)) writeFileSync(f, v)
    const [port, healthz] = [await freePort(), await freePort()]
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions ndots:1\n')
    writeFileSync(join(dir, 'kubelet.yaml'), [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      // This machine: cgroup v1 (deprecated in 1.35+, refused unless told), no systemd, a hard
      // open-files limit of 20000, swap not managed, and sysctls the kubelet must not change.
      'failCgroupV1: false',
      'cgroupDriver: cgroupfs',
      'maxOpenFiles: 20000',
      'failSwapOn: false',
      'protectKernelDefaults: true',
      'address: 127.0.0.1',
      `port: ${port}`,
      'readOnlyPort: 0',
      'healthzBindAddress: 127.0.0.1',
      `healthzPort: ${healthz}`,
      'authentication: { anonymous: { enabled: false }, webhook: { enabled: false } }',
      'authorization: { mode: AlwaysAllow }',
      `containerRuntimeEndpoint: unix://${sock}`,
      `podLogsDir: ${dir}/pod-logs`,
      `resolvConf: ${dir}/resolv.conf`,
      // Tests share a busy disk and memory: eviction must never pick the test's pods.
      'evictionHard: { memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%" }',
      'imageGCHighThresholdPercent: 100',
      'imageGCLowThresholdPercent: 99',
      'enforceNodeAllocatable: []',
      'cgroupsPerQOS: true',
      'serializeImagePulls: false',
      'syncFrequency: 5s',
      'shutdownGracePeriod: 0s',
      'registerNode: true',
      '',
    ].join('\n'))
    kubelet = start(kubeletBin, [
      `--config=${join(dir, 'kubelet.yaml')}`, `--kubeconfig=${cluster.kubeconfig}`, `--root-dir=${join(dir, 'kubelet')}`,
      `--cert-dir=${join(dir, 'kubelet-pki')}`, `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`, '--v=1',
    ], log, 'kubelet')
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (kubelet.exitCode !== null) throw new Error(`kubelet exited ${kubelet.exitCode}`)
      try {
        const n = await cluster.client.call<{ status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/api/v1/nodes/${NODE_NAME}`)
        if (n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break
      } catch { /* not registered yet */ }
      if (Date.now() > deadline) throw new Error(`node ${NODE_NAME} not Ready after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 500))
    }
  } catch (e) {
    const out = log.join('').slice(-6000)
    await stop()
    throw new Error(`${(e as Error).message}\n${out}`)
  }

  const ctr = (args: string[], input?: string) => {
    const r = spawnSync('ctr', ['--address', sock, '-n', 'k8s.io', ...args], { encoding: 'utf8', input, timeout: 120_000, maxBuffer: 64 << 20 })
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') }
  }
  let execSeq = 0
  return {
    dir,
    containerdSock: sock,
    ctr,
    importImage(tar: string) {
      const r = ctr(['images', 'import', '--no-unpack=false', tar])
      if (r.code !== 0) throw new Error(`ctr images import ${tar}: ${r.stderr}`)
    },
    exec(containerId: string, cmd: string[], timeoutMs = 60_000) {
      return new Promise((resolve) => {
        const child = spawn('ctr', ['--address', sock, '-n', 'k8s.io', 'tasks', 'exec', '--exec-id', `t${process.pid}-${++execSeq}`, containerId, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (b: Buffer) => { if (stdout.length < 1 << 20) stdout += b.toString() })
        child.stderr.on('data', (b: Buffer) => { if (stderr.length < 1 << 20) stderr += b.toString() })
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        child.on('close', (code) => {
          clearTimeout(timer)
          resolve({ code: code ?? 1, stdout, stderr })
        })
      })
    },
    pid(containerId: string) {
      const r = ctr(['tasks', 'ls'])
      const line = r.stdout.split('\n').find((l) => l.startsWith(containerId))
      if (!line) throw new Error(`no task for container ${containerId}`)
      return Number(line.split(/\s+/)[1])
    },
    logs: () => log.join(''),
    stop,
    leftovers() {
      const left: string[] = []
      if (run('ip', ['link', 'show', BRIDGE]).code === 0) left.push(`bridge ${BRIDGE}`)
      for (const cg of kubepodsCgroups()) left.push(`cgroup ${cg}`)
      for (const p of pidsWith(sock)) left.push(`process ${p}`)
      for (const p of [...pidsWith(kubeletBin)]) left.push(`kubelet process ${p}`)
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
      for (const m of mounts) if (m.startsWith(dir) || m.startsWith('/run/containerd')) left.push(`mount ${m}`)
      if (existsSync('/run/netns')) for (const n of readdirSync('/run/netns')) if (!netnsBefore.has(n)) left.push(`netns ${n}`)
      for (const [key, chains] of chainSnapshot()) {
        for (const c of chains) if (!(chainsBefore.get(key)?.has(c) ?? false)) left.push(`chain ${key} ${c}`)
      }
      for (const [f, v] of sysctlsBefore) if (v !== null && readFileSync(f, 'utf8').trim() !== v) left.push(`sysctl ${f}`)
      for (const [p, existed] of Object.entries(existedBefore)) if (!existed && existsSync(p)) left.push(`path ${p}`)
      if (existsSync(dir)) left.push(`path ${dir}`)
      return left
    },
  }
}

/** The CRI container id of a pod's container, from the pod status ("containerd://<id>"). */
export function containerIdOf(pod: { status?: { containerStatuses?: Array<{ name: string; containerID?: string }>; initContainerStatuses?: Array<{ name: string; containerID?: string }> } }, name: string): string {
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]
  const id = all.find((c) => c.name === name)?.containerID
  if (!id) throw new Error(`container ${name} has no id yet`)
  return id.replace(/^containerd:\/\//, '')
}


