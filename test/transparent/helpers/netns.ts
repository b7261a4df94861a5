// Network namespaces for the transparent-interception tests (root only). Each test makes its own
// namespace with a unique name and, where needed, a veth pair on a private /30 chosen at random in
// 10.213.0.0/16: those addresses exist only on this pair, so traffic never leaves the machine.
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'

export function canRunNetns(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (network namespaces, iptables)' }
  for (const tool of ['ip', 'iptables', 'iptables-restore']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { ok: false, reason: `${tool} is not installed (apt-get install iptables iproute2)` }
  }
  return { ok: true }
}

/** Skip only off CI and without root; on CI (or as root) a missing capability is a failure. */
export function skipReason(): string | false {
  const can = canRunNetns()
  if (can.ok) return false
  if (process.env.CI) throw new Error(`transparent tests must run on CI: ${can.reason}`)
  return `skipped: ${can.reason} (set CI=1 to make this a failure)`
}

export interface Netns {
  name: string
  /** Address of the root-namespace end of the veth pair (where test upstreams listen). */
  hostAddr: string
  /** Address of the namespace end. */
  nsAddr: string
  /** Blocks the event loop: only for commands that do not talk to servers in this process. */
  exec(args: string[], input?: string): string
  /** Runs a command in the namespace without blocking (servers in this process keep serving). */
  run(args: string[]): Promise<string>
  /** argv prefix that runs a command inside the namespace. */
  prefix: string[]
  /** Writes /etc/netns/<name>/hosts, which `ip netns exec` shows as /etc/hosts inside. */
  hosts(entries: Record<string, string>): void
  destroy(): void
}

export function createNetns(opts: { veth: boolean }): Netns {
  const id = randomBytes(3).toString('hex')
  const name = `tgt-${id}`
  const hostIf = `tgh${id}`
  const nsIf = `tgn${id}`
  const third = randomInt(0, 256)
  const fourth = randomInt(0, 64) * 4
  const hostAddr = `10.213.${third}.${fourth + 1}`
  const nsAddr = `10.213.${third}.${fourth + 2}`
  const run = (args: string[]): void => { execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }) }
  run(['ip', 'netns', 'add', name])
  run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'])
  if (opts.veth) {
    run(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf])
    run(['ip', 'link', 'set', nsIf, 'netns', name])
    run(['ip', 'addr', 'add', `${hostAddr}/30`, 'dev', hostIf])
    run(['ip', 'link', 'set', hostIf, 'up'])
    run(['ip', 'netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf])
    run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up'])
  }
  const etc = `/etc/netns/${name}`
  return {
    name,
    hostAddr,
    nsAddr,
    prefix: ['ip', 'netns', 'exec', name],
    exec: (args, input) => execFileSync('ip', ['netns', 'exec', name, ...args], { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] }),
    run: (args) => new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', name, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${args.join(' ')}: ${stderr || err.message}`))
        else resolve(stdout)
      })
    }),
    hosts(entries) {
      mkdirSync(etc, { recursive: true })
      writeFileSync(`${etc}/hosts`, '127.0.0.1 localhost\n' + Object.entries(entries).map(([h, a]) => `${a} ${h}`).join('\n') + '\n')
    },
    destroy() {
      spawnSync('ip', ['link', 'del', hostIf])
      spawnSync('ip', ['netns', 'del', name])
      rmSync(etc, { recursive: true, force: true })
    },
  }
}
