// The nat rules of transparent interception, built as iptables-restore input (pure: no I/O here,
// so the exact rule set is unit-tested and shown by --dry-run). One dedicated chain,
// TOOLGATE_OUTPUT, jumped to from OUTPUT for TCP. Inside it, in order: toolgate's own UID, loopback,
// excluded CIDRs and ports RETURN (leave untouched); tcp/80 goes to the plain HTTP listener and
// tcp/443 to the TLS listener; with --redirect-all every other TCP port goes to a listener that
// refuses (so nothing leaves unseen); without it, other ports leave the pod directly.
// With --redirect-all, a second chain in the filter table, TOOLGATE_EGRESS, rejects what the nat
// redirect cannot catch: UDP (QUIC on 443, anything else) and other non-TCP traffic, except DNS
// (UDP 53, which the agent needs to resolve names at all) and ICMPv6 (IPv6 neighbour discovery).

import { isIP } from 'node:net'

export const CHAIN = 'TOOLGATE_OUTPUT'

export interface RuleOptions {
  proxyUid: number
  httpPort: number
  tlsPort: number
  excludeCidrs: string[]
  excludePorts: number[]
  /** Listener that receives (and refuses) TCP to any other port; null leaves other ports alone. */
  redirectAllPort: number | null
}

export type Family = 4 | 6

export const EGRESS_CHAIN = 'TOOLGATE_EGRESS'

/** The OUTPUT rule that sends TCP into our chain (for -C / -A / -D). */
export const JUMP_RULE = ['-p', 'tcp', '-j', CHAIN]
/** The filter-table OUTPUT rule that sends everything into the egress chain. */
export const EGRESS_JUMP_RULE = ['-j', EGRESS_CHAIN]

/** Whether the filter-table egress chain is part of the rule set (only with redirect-all). */
export function blocksNonTcp(o: RuleOptions): boolean {
  return o.redirectAllPort !== null
}

/** The filter chain's rules: non-TCP traffic other than DNS (and ICMPv6) is rejected. */
export function egressRules(o: RuleOptions, family: Family): string[][] {
  const rules: string[][] = []
  rules.push(['-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN'])
  rules.push(['-o', 'lo', '-j', 'RETURN'])
  for (const cidr of o.excludeCidrs) {
    if (cidrFamily(cidr) === family) rules.push(['-d', cidr, '-j', 'RETURN'])
  }
  rules.push(['-p', 'tcp', '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: TCP is redirected in nat'])
  rules.push(['-p', 'udp', '--dport', '53', '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: DNS'])
  if (family === 6) rules.push(['-p', 'ipv6-icmp', '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: neighbour discovery'])
  rules.push(['-j', 'REJECT', '-m', 'comment', '--comment', 'toolgate: no way out but the sidecar'])
  return rules
}

/** The chain's rules for one address family (each a list of iptables arguments after `-A CHAIN`). */
export function chainRules(o: RuleOptions, family: Family): string[][] {
  const rules: string[][] = []
  rules.push(['-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: its own upstream traffic'])
  rules.push(['-o', 'lo', '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: loopback'])
  rules.push(['-d', family === 4 ? '127.0.0.0/8' : '::1/128', '-j', 'RETURN'])
  for (const cidr of o.excludeCidrs) {
    if (cidrFamily(cidr) === family) rules.push(['-d', cidr, '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: excluded CIDR'])
  }
  for (const port of o.excludePorts) rules.push(['-p', 'tcp', '--dport', String(port), '-j', 'RETURN', '-m', 'comment', '--comment', 'toolgate: excluded port'])
  rules.push(['-p', 'tcp', '--dport', '80', '-j', 'REDIRECT', '--to-ports', String(o.httpPort)])
  rules.push(['-p', 'tcp', '--dport', '443', '-j', 'REDIRECT', '--to-ports', String(o.tlsPort)])
  if (o.redirectAllPort !== null) rules.push(['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.redirectAllPort)])
  return rules
}

/**
 * iptables-restore --noflush input: declaring the chain creates it, or flushes it when it exists,
 * so applying the same input twice yields the same rules, in one atomic commit.
 */
export function restoreInput(o: RuleOptions, family: Family): string {
  const lines = ['*nat', `:${CHAIN} - [0:0]`]
  for (const r of chainRules(o, family)) lines.push(['-A', CHAIN, ...r.map(quoteArg)].join(' '))
  lines.push('COMMIT')
  if (blocksNonTcp(o)) {
    lines.push('*filter', `:${EGRESS_CHAIN} - [0:0]`)
    for (const r of egressRules(o, family)) lines.push(['-A', EGRESS_CHAIN, ...r.map(quoteArg)].join(' '))
    lines.push('COMMIT')
  }
  lines.push('')
  return lines.join('\n')
}

function quoteArg(a: string): string {
  return /^[\w./:,-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '\\$&')}"`
}

export function cidrFamily(cidr: string): Family | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(cidr)
  if (!m) return null
  const fam = isIP(m[1]!)
  if (fam === 0) return null
  if (m[2] !== undefined) {
    const bits = Number(m[2])
    if (bits > (fam === 4 ? 32 : 128)) return null
  }
  return fam as Family
}
