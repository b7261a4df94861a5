// Which destination addresses a tool may reach. Private, loopback, link-local, unique-local,
// CGNAT, NAT64, multicast, unspecified and cloud metadata addresses, 6to4 and Teredo addresses
// embedding any of those, and the pod's own interface addresses are refused unless the tool names
// them explicitly: its match.host is that IP literal, or allow_addresses holds a CIDR containing
// it. The check runs on the exact address a connection is made to (forward/ calls it from the
// connector's lookup), so DNS answers cannot change between check and use.

import { BlockList, isIP } from 'node:net'
import { networkInterfaces } from 'node:os'

// The most specific ranges come first: the kind reported is the first range that contains the
// address, so a metadata address inside a wider range (100.100.100.200 in CGNAT, fd00:ec2::254 in
// unique-local) is named for what it is.
const SPECIAL_V4: Array<[string, number, string]> = [
  ['100.100.100.200', 32, 'cloud metadata'],
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
]
const SPECIAL_V6: Array<[string, number, string]> = [
  ['fd00:ec2::254', 128, 'cloud metadata'],
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'NAT64 (local use)'],
]

// One BlockList per range, built once at load (immutable afterwards), so a check is a few lookups.
const SPECIAL: Array<{ list: BlockList; kind: string }> = [
  ...SPECIAL_V4.map(([net, prefix, kind]) => ({ list: subnet(net, prefix, 'ipv4'), kind })),
  ...SPECIAL_V6.map(([net, prefix, kind]) => ({ list: subnet(net, prefix, 'ipv6'), kind })),
]

// Every special range in one list: the common case (a public address) is a single check.
const ANY_SPECIAL = new BlockList()
for (const [net, prefix] of SPECIAL_V4) ANY_SPECIAL.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of SPECIAL_V6) ANY_SPECIAL.addSubnet(net, prefix, 'ipv6')

function subnet(net: string, prefix: number, type: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList()
  list.addSubnet(net, prefix, type)
  return list
}

/** Reason an address is special, or null for an ordinary public address. */
export function specialAddressKind(address: string): string | null {
  const family = isIP(address)
  if (family === 0) return 'not an IP address'
  // IPv4-mapped (::ffff:a.b.c.d) is judged as the IPv4 address it maps to.
  const mapped = family === 6 ? mappedIpv4(address) : null
  if (mapped !== null) return specialAddressKind(mapped)
  const type = family === 6 ? 'ipv6' : 'ipv4'
  if (ANY_SPECIAL.check(address, type)) {
    for (const { list, kind } of SPECIAL) if (list.check(address, type)) return kind
  }
  // 6to4 and Teredo carry an IPv4 address that relays deliver to: judged as that address.
  if (family === 6) {
    for (const { ipv4, how } of embeddedIpv4(address)) {
      const inner = specialAddressKind(ipv4)
      if (inner !== null) return `${how} embedding of ${ipv4} (${inner})`
    }
  }
  if (ownAddresses().has(family === 6 ? expandIpv6(address)!.join(':') : address)) return "an address of this pod's own interfaces"
  return null
}

/**
 * Whether a peer address is inside this pod: loopback (any of 127/8, ::1, or their IPv4-mapped
 * forms) or one of the pod's own interface addresses. Such a peer may be the agent.
 */
export function isPodAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  const mapped = family === 6 ? mappedIpv4(address) : null
  if (mapped !== null) return isPodAddress(mapped)
  if (family === 4 ? address.startsWith('127.') : expandIpv6(address)!.join(':') === '0:0:0:0:0:0:0:1') return true
  return ownAddresses().has(family === 6 ? expandIpv6(address)!.join(':') : address)
}

/** The eight 16-bit groups of an IPv6 address (any notation isIP accepts, no zone), or null. */
function expandIpv6(address: string): number[] | null {
  let text = address.toLowerCase()
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const b = dotted.slice(2, 6).map(Number)
    text = `${dotted[1]}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)))
  const head = part(halves[0]!)
  const tail = halves.length === 2 ? part(halves[1]!) : []
  const groups = halves.length === 2 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null
}

function ipv4Of(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

/** IPv4 addresses embedded by 6to4 (2002::/16) and Teredo (2001::/32: server, and client XOR 0xffff). */
function embeddedIpv4(address: string): Array<{ ipv4: string; how: string }> {
  const g = expandIpv6(address)
  if (g === null) return []
  if (g[0] === 0x2002) return [{ ipv4: ipv4Of(g[1]!, g[2]!), how: '6to4' }]
  if (g[0] === 0x2001 && g[1] === 0) return [{ ipv4: ipv4Of(g[2]!, g[3]!), how: 'Teredo server' }, { ipv4: ipv4Of(g[6]! ^ 0xffff, g[7]! ^ 0xffff), how: 'Teredo client' }]
  return []
}

// The pod's own addresses (every interface, not only loopback): a name resolving to one of them
// reaches the sidecar itself or another container of the pod. Read again at most every 30 s,
// since interfaces can change (a pod IP is assigned after start in some runtimes).
let own: { at: number; set: Set<string> } | null = null
const OWN_TTL_MS = 30_000

function ownAddresses(): Set<string> {
  const now = Date.now()
  if (own !== null && now - own.at < OWN_TTL_MS) return own.set
  const set = new Set<string>()
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4') set.add(a.address)
      else {
        const g = expandIpv6(a.address.split('%')[0]!)
        if (g) set.add(g.join(':'))
      }
    }
  }
  own = { at: now, set }
  return set
}

/** The IPv4 address inside an IPv4-mapped IPv6 address, in either notation, else null. */
function mappedIpv4(address: string): string | null {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (dotted?.[1]) return dotted[1]
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address)
  if (!hex?.[1] || !hex[2]) return null
  const hi = parseInt(hex[1], 16)
  const lo = parseInt(hex[2], 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

export interface DestinationRules {
  /** The tool's match.host when it is an IP literal (named explicitly). */
  explicitIp: string | null
  /** CIDRs from allow_addresses. */
  allowed: BlockList
}

export function destinationRules(matchHost: string, allowAddresses: readonly string[] = []): DestinationRules {
  const allowed = new BlockList()
  for (const cidr of allowAddresses) {
    const [net, bits] = cidr.split('/')
    const family = isIP(net ?? '')
    if (family === 0) continue // config validation rejects these; never widen on a bad entry
    const type = family === 6 ? 'ipv6' : 'ipv4'
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits)
    allowed.addSubnet(net!, prefix, type)
  }
  const bare = matchHost.replace(/^\[|\]$/g, '')
  return { explicitIp: isIP(bare) ? bare.toLowerCase() : null, allowed }
}

/** null when the address may be connected to, else the reason it may not. */
export function checkDestination(address: string, rules: DestinationRules): string | null {
  const kind = specialAddressKind(address)
  if (kind === null) return null
  if (rules.explicitIp !== null && rules.explicitIp === address.toLowerCase()) return null
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
  if (rules.allowed.check(address, family)) return null
  return `destination ${address} is ${kind}; the tool must name it (match.host or allow_addresses)`
}
