// `toolgate iptables install|cleanup`: the init-container step of transparent interception.
// install applies the TOOLGATE_OUTPUT chain (see rules.ts) atomically with iptables-restore and
// adds the OUTPUT jump once (and, with --redirect-all, the filter chain TOOLGATE_EGRESS that
// rejects non-TCP egress); cleanup removes the jumps and the chains. Both are idempotent. IPv6
// gets the same rules through ip6tables when the kernel has an IPv6 nat table.

import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { CHAIN, EGRESS_CHAIN, EGRESS_JUMP_RULE, JUMP_RULE, blocksNonTcp, cidrFamily, restoreInput, type Family, type RuleOptions } from './rules.ts'
import type { Command } from '../../commands/command.ts'

const USAGE = `usage: toolgate iptables install|cleanup [options]

Installs (or removes) the nat rules that redirect this network namespace's outbound TCP to
toolgate's transparent listeners. Run it in the pod's init container (needs CAP_NET_ADMIN).

options (install):
  --proxy-uid N          UID toolgate runs as; its own traffic is never redirected (required)
  --http-port P          transparent HTTP listener, gets tcp/80 (default 15080)
  --tls-port P           transparent TLS listener, gets tcp/443 (default 15443)
  --exclude-cidrs A,B    destinations left alone (IPv4 and IPv6 CIDRs)
  --exclude-ports P,Q    destination ports left alone
  --redirect-all P       also redirect every other TCP port to listener P (which refuses),
                         and reject non-TCP traffic except DNS (UDP 53) and ICMPv6;
                         without it, TCP to other ports and UDP are not intercepted
  --no-ipv6              do not touch ip6tables
  --dry-run              print what would be applied, change nothing
  -h, --help
`

export interface Exec {
  (cmd: string, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>
}

const realExec: Exec = (cmd, args, stdin) => new Promise((resolve) => {
  const child = spawn(cmd, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  child.on('error', (err: NodeJS.ErrnoException) => resolve({ code: 127, stdout, stderr: err.code === 'ENOENT' ? `${cmd} not found` : err.message }))
  child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  if (child.stdin) {
    // A tool that exits before reading its input must not crash us with EPIPE; its exit code tells.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin)
  }
})

function port(v: string | undefined, name: string, fallback: number | null): number | null {
  if (v === undefined) return fallback
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageError(`${name} must be a port number (1-65535), got ${JSON.stringify(v)}`)
  return Number(v)
}

function list(v: string | undefined): string[] {
  return v === undefined || v.trim() === '' ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

class UsageError extends Error {}

export interface ParsedArgs {
  action: 'install' | 'cleanup'
  rules: RuleOptions
  ipv6: boolean
  dryRun: boolean
}

export function parseCommand(argv: string[]): ParsedArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      'proxy-uid': { type: 'string' },
      'http-port': { type: 'string' },
      'tls-port': { type: 'string' },
      'exclude-cidrs': { type: 'string' },
      'exclude-ports': { type: 'string' },
      'redirect-all': { type: 'string' },
      'no-ipv6': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help'
  const action = positionals[0]
  if (positionals.length !== 1 || (action !== 'install' && action !== 'cleanup')) throw new UsageError('expected exactly one action: install or cleanup')
  const uidText = values['proxy-uid']
  if (action === 'install' && uidText === undefined) throw new UsageError('--proxy-uid is required: without it toolgate\'s own upstream traffic would loop back into itself')
  if (uidText !== undefined && !/^\d{1,10}$/.test(uidText)) throw new UsageError(`--proxy-uid must be a numeric UID, got ${JSON.stringify(uidText)}`)
  const excludeCidrs = list(values['exclude-cidrs'])
  for (const c of excludeCidrs) if (cidrFamily(c) === null) throw new UsageError(`--exclude-cidrs: ${JSON.stringify(c)} is not an IPv4 or IPv6 CIDR`)
  const excludePorts = list(values['exclude-ports']).map((p) => port(p, '--exclude-ports', null)!)
  const rules: RuleOptions = {
    proxyUid: Number(uidText ?? 0),
    httpPort: port(values['http-port'], '--http-port', 15080)!,
    tlsPort: port(values['tls-port'], '--tls-port', 15443)!,
    excludeCidrs,
    excludePorts,
    redirectAllPort: port(values['redirect-all'], '--redirect-all', null),
  }
  return { action, rules, ipv6: !values['no-ipv6'], dryRun: Boolean(values['dry-run']) }
}

const TOOLS: Record<Family, { iptables: string; restore: string }> = {
  4: { iptables: 'iptables', restore: 'iptables-restore' },
  6: { iptables: 'ip6tables', restore: 'ip6tables-restore' },
}

async function hasNat(exec: Exec, family: Family): Promise<boolean> {
  const r = await exec(TOOLS[family].iptables, ['-w', '5', '-t', 'nat', '-S', 'OUTPUT'])
  return r.code === 0
}

async function install(exec: Exec, family: Family, o: RuleOptions, out: (s: string) => void, dryRun: boolean): Promise<void> {
  const t = TOOLS[family]
  const input = restoreInput(o, family)
  if (dryRun) {
    out(`# ${t.restore} --noflush <<EOF\n${input}EOF\n# ${t.iptables} -t nat -C OUTPUT ${JUMP_RULE.join(' ')} || ${t.iptables} -t nat -A OUTPUT ${JUMP_RULE.join(' ')}\n`)
    if (blocksNonTcp(o)) out(`# ${t.iptables} -t filter -C OUTPUT ${EGRESS_JUMP_RULE.join(' ')} || ${t.iptables} -t filter -A OUTPUT ${EGRESS_JUMP_RULE.join(' ')}\n`)
    return
  }
  const restored = await exec(t.restore, ['-w', '5', '--noflush'], input)
  if (restored.code !== 0) throw new Error(`${t.restore} failed: ${restored.stderr.trim()}`)
  const present = await exec(t.iptables, ['-w', '5', '-t', 'nat', '-C', 'OUTPUT', ...JUMP_RULE])
  if (present.code !== 0) {
    const added = await exec(t.iptables, ['-w', '5', '-t', 'nat', '-A', 'OUTPUT', ...JUMP_RULE])
    if (added.code !== 0) throw new Error(`${t.iptables} -A OUTPUT failed: ${added.stderr.trim()}`)
  }
  if (blocksNonTcp(o)) {
    const has = await exec(t.iptables, ['-w', '5', '-t', 'filter', '-C', 'OUTPUT', ...EGRESS_JUMP_RULE])
    if (has.code !== 0) {
      const added = await exec(t.iptables, ['-w', '5', '-t', 'filter', '-A', 'OUTPUT', ...EGRESS_JUMP_RULE])
      if (added.code !== 0) throw new Error(`${t.iptables} -t filter -A OUTPUT failed: ${added.stderr.trim()}`)
    }
  }
  else await removeEgress(exec, family) // a reinstall without --redirect-all leaves no stale rejects
  out(`${t.iptables}: ${CHAIN}${blocksNonTcp(o) ? ` and ${EGRESS_CHAIN}` : ''} installed\n`)
}

async function removeChain(exec: Exec, family: Family, table: 'nat' | 'filter', chain: string): Promise<void> {
  const t = TOOLS[family]
  const exists = await exec(t.iptables, ['-w', '5', '-t', table, '-S', chain])
  if (exists.code !== 0) return
  for (const op of ['-F', '-X']) {
    const r = await exec(t.iptables, ['-w', '5', '-t', table, op, chain])
    if (r.code !== 0) throw new Error(`${t.iptables} -t ${table} ${op} ${chain} failed: ${r.stderr.trim()}`)
  }
}

/** Removes the filter-table egress jump (every copy) and chain, when present. */
async function removeEgress(exec: Exec, family: Family): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const r = await exec(TOOLS[family].iptables, ['-w', '5', '-t', 'filter', '-D', 'OUTPUT', ...EGRESS_JUMP_RULE])
    if (r.code !== 0) break
  }
  await removeChain(exec, family, 'filter', EGRESS_CHAIN)
}

async function cleanup(exec: Exec, family: Family, out: (s: string) => void, dryRun: boolean): Promise<void> {
  const t = TOOLS[family]
  if (dryRun) {
    out(`# while ${t.iptables} -t nat -C OUTPUT ${JUMP_RULE.join(' ')}; do ${t.iptables} -t nat -D OUTPUT ${JUMP_RULE.join(' ')}; done\n# ${t.iptables} -t nat -F ${CHAIN}; ${t.iptables} -t nat -X ${CHAIN}\n# the same for ${t.iptables} -t filter OUTPUT ${EGRESS_JUMP_RULE.join(' ')} and ${EGRESS_CHAIN}\n`)
    return
  }
  // Remove every copy of the jump (an interrupted older install may have left more than one).
  for (let i = 0; i < 16; i++) {
    const r = await exec(t.iptables, ['-w', '5', '-t', 'nat', '-D', 'OUTPUT', ...JUMP_RULE])
    if (r.code !== 0) break
  }
  await removeChain(exec, family, 'nat', CHAIN)
  await removeEgress(exec, family)
  out(`${t.iptables}: ${CHAIN} removed\n`)
}

export const iptablesCommand: Command = {
  summary: 'install or remove the iptables rules of transparent interception (init container)',
  usage: USAGE,
  ownHelp: true,
  run: (argv) => main(argv),
}

export async function main(argv: string[], io: { exec?: Exec; stdout?: (s: string) => void; stderr?: (s: string) => void } = {}): Promise<number> {
  const exec = io.exec ?? realExec
  const out = io.stdout ?? ((s: string) => { process.stdout.write(s) })
  const err = io.stderr ?? ((s: string) => { process.stderr.write(s) })
  let parsed: ParsedArgs | 'help'
  try {
    parsed = parseCommand(argv)
  } catch (e) {
    err(`toolgate iptables: ${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (parsed === 'help') {
    out(USAGE)
    return 0
  }
  const families: Family[] = [4]
  if (parsed.ipv6) {
    if (parsed.dryRun || (await hasNat(exec, 6))) families.push(6)
    else err('toolgate iptables: ip6tables nat table not available; IPv6 left alone\n')
  } else if (parsed.rules.excludeCidrs.some((c) => cidrFamily(c) === 6)) {
    err('toolgate iptables: --no-ipv6 given, IPv6 CIDRs in --exclude-cidrs are ignored\n')
  }
  try {
    for (const f of families) {
      if (parsed.action === 'install') await install(exec, f, parsed.rules, out, parsed.dryRun)
      else await cleanup(exec, f, out, parsed.dryRun)
    }
  } catch (e) {
    err(`toolgate iptables ${parsed.action}: ${(e as Error).message}\n`)
    return 1
  }
  return 0
}
