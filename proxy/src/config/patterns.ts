// Syntax rules for the strings in a tool entry that the schema cannot express: host patterns,
// path patterns and CIDRs. Each check returns a human message, or null when the text is valid.
// Path patterns are checked by the allowlist's own compiler (classify/path-pattern.ts), so the
// config can never accept a pattern the matcher would read differently.

import { isIP } from 'node:net'
import { domainToASCII } from 'node:url'
import { compilePattern } from '../classify/path-pattern.ts'
import { canonicalHost } from '../classify/target.ts'


/**
 * A tool's match.host: an exact DNS name, `*.domain` (the wildcard is the whole first label and
 * stands for one or more labels, under a domain of at least two labels), or an IP literal
 * (IPv6 without brackets). Lower case, no trailing dot, no port, IDNs in their ASCII form.
 */
export function hostPatternProblem(host: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) return "write only the host name: the scheme goes in match.scheme"
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1)
    return isIP(inner) === 6 ? `write IPv6 literals without brackets: '${inner}'` : 'not a valid IPv6 literal'
  }
  const family = isIP(host)
  if (family === 4) return null
  if (family === 6) return host.includes('%') ? 'IPv6 zone ids (%...) are not allowed' : null
  if (host.includes('/')) return "write only the host name: paths go in routes and CIDRs in allow_addresses"
  if (host.includes(':')) return "write only the host name: the port goes in match.port"
  if (/\s/.test(host)) return 'a host name cannot contain whitespace'
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(host)) {
    const ascii = domainToASCII(host.replace(/^\*\./, 'wildcard-placeholder.'))
    const hint = ascii ? ` '${host.startsWith('*.') ? ascii.replace(/^wildcard-placeholder\./, '*.') : ascii}'` : ''
    return `write internationalised names in their ASCII (punycode) form${hint}`
  }
  if (host !== host.toLowerCase()) return `host names are compared in lower case: write '${host.toLowerCase()}'`
  if (host.endsWith('.')) return `remove the trailing dot: '${host.replace(/\.+$/, '')}'`
  let name = host
  if (host.includes('*')) {
    if (!host.startsWith('*.') || host.indexOf('*', 1) !== -1) return "a wildcard is allowed only as the whole first label: '*.example.com'"
    name = host.slice(2)
    if (name.split('.').length < 2) return `'*.${name}' would match every name under a top-level domain: use a wildcard under a domain with at least two labels`
  }
  if (name.length > 253) return 'a host name is at most 253 characters'
  if (name.split('.').some((l) => l === '')) return 'empty label (two dots in a row)'
  // A name whose last label is numeric would be read as an IPv4 address by URL parsers (127.1,
  // 0x7f.1): only canonical dotted-quad IPv4 literals are accepted.
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(name.split('.').at(-1) ?? '')) return 'not a canonical IP address (use four decimal parts without leading zeros, e.g. 10.0.0.1) nor a host name'
  // The same host rule the classifier applies to requests (classify/target.ts): a name the
  // config accepts is one a request can match, and the other way round.
  const canonical = canonicalHost(name)
  if (!canonical.ok) return `${canonical.reason}: labels use letters, digits, '-' and '_', not '-' at the start or end, at most 63 characters`
  if (canonical.host !== name) return `write the host in its canonical form: '${host.startsWith('*.') ? `*.${canonical.host}` : canonical.host}'`
  return null
}

/**
 * A path pattern: '/'-separated segments, each a literal (in canonical form), '*' (one segment),
 * '**' (any number, at most once) or '{name}' (one segment, captured, names unique). Wildcards
 * and captures are whole segments; no '.', '..', empty segments, '?' or '#'.
 */
export function pathPatternProblem(pattern: string): string | null {
  try {
    compilePattern(pattern)
    return null
  } catch (err) {
    return (err as Error).message
  }
}

/** Parses an IPv4 or IPv6 address (already validated by isIP) into its bits. */
function addressBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)
  let text = address
  // A trailing dotted IPv4 (::ffff:1.2.3.4) is two 16-bit groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted?.[1]) {
    const v4 = addressBits(dotted[1], 4)
    text = text.slice(0, -dotted[1].length) + `${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
}

/**
 * A CIDR 'address/prefix', or a bare address (a single host). The address must be the network
 * address (no host bits set): '10.0.0.1/8' is refused with the CIDR that was probably meant.
 */
export function cidrProblem(text: string, opts: { allowZeroPrefix: boolean }): string | null {
  const slash = text.indexOf('/')
  const address = slash === -1 ? text : text.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return `'${address}' is not an IP address`
  if (address.includes('%')) return 'IPv6 zone ids (%...) are not allowed'
  if (slash === -1) return null
  const prefixText = text.slice(slash + 1)
  const max = family === 4 ? 32 : 128
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) return `prefix length must be 0-${max}, got '${prefixText}'`
  const prefix = Number(prefixText)
  if (prefix === 0 && !opts.allowZeroPrefix) return `'${text}' covers every address: name the ranges this tool needs`
  const bits = addressBits(address, family as 4 | 6)
  const hostBits = BigInt(max - prefix)
  const network = (bits >> hostBits) << hostBits
  if (network !== bits) {
    const fixed = family === 4 ? formatV4(network) : null
    return `host bits are set in '${text}'${fixed ? ` (did you mean '${fixed}/${prefix}'?)` : ': use the network address'}`
  }
  return null
}

function formatV4(bits: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 255n)).join('.')
}
