// `toolgate selftest`: run inside a pod (in the agent's container, as the agent's user) to prove
// that the sidecar is the only way out. Each probe (proxy/src/selftest/probes.ts) tries one path
// that ignores the proxy variables and prints `blocked`, `open` or `unknown` with the evidence.
// Exit 0: every probe blocked. Exit 1: something open. Exit 3: nothing open, but a probe could not
// tell (e.g. UDP without any answer). Exit 2: usage error.

import { isIP } from 'node:net'
import { parseFlags, type Command } from './command.ts'
import { probeControl, probeDirect, probeDoh, probeRawIp, probeUdp, type HostPort, type ProbeResult } from '../selftest/probes.ts'
import { parseAuthority } from '../classify/request-target.ts'

const USAGE = `usage: toolgate selftest [options]

Run inside an injected pod, as the agent's user: tries to get out without toolgate and prints each
path as blocked, open or unknown. In transparent mode everything should be blocked; in proxy mode
the direct paths are open (a client that ignores HTTP_PROXY is not stopped), and selftest says so.

probes (the defaults are public endpoints; in tests, point them at your own canaries):
      --canary HOST[:PORT]   HTTP canary reached directly over IPv4 (name or address; port 80)
                             default one.one.one.one:80
      --canary-v6 ADDR[:PORT] the same over IPv6 (literal in [], or a name)
                             default [2606:4700:4700::1111]:80
      --udp ADDR:PORT        QUIC-shaped datagram (default 1.1.1.1:443)
      --raw ADDR:PORT        TCP to an IP address on a non-HTTP port (default 1.1.1.1:853)
      --control URL          the control (task) API, called without credentials
                             (default http://127.0.0.1:15004/v1/tasks)
      --doh URL              a DNS-over-HTTPS endpoint (default https://1.1.1.1/dns-query)
      --doh-address ADDR     connect to ADDR instead of resolving the DoH host
      --skip NAME,...        leave out probes (ipv4, ipv6, udp-443, raw-ip, control-api, doh)
      --timeout MS           per probe (default 3000, 100..60000)
      --json                 one JSON object per probe, then a summary object
  -h, --help

exit: 0 all blocked, 1 something open, 3 nothing open but something unknown, 2 usage error
`

const PROBES = ['ipv4', 'ipv6', 'udp-443', 'raw-ip', 'control-api', 'doh'] as const

class UsageError extends Error {}

/**
 * HOST[:PORT], [V6]:PORT or a bare IPv6 literal, read by the one authority parser
 * (classify/request-target.ts parseAuthority): the same host rules as requests and the config
 * (canonical case, IDN, dotted-decimal IPv4 only, no userinfo, ports 1-65535 without leading zeros).
 */
export function parseHostPort(v: string, defaultPort: number | null, flag: string): HostPort {
  // A bare IPv6 literal cannot be misread as host:port (it has more than one ':'), so it is
  // accepted without brackets, as people write it; parseAuthority wants the bracketed form.
  const a = parseAuthority(isIP(v) === 6 ? `[${v}]` : v, 'authority')
  if (!a.ok) throw new UsageError(`${flag}: ${JSON.stringify(v)} is not HOST[:PORT] (${a.reason})`)
  if (a.port !== null) return { host: a.host, port: a.port }
  if (defaultPort === null) throw new UsageError(`${flag}: ${JSON.stringify(v)} needs a port`)
  return { host: a.host, port: defaultPort }
}

function parseUrl(v: string, flag: string): URL {
  try {
    return new URL(v)
  } catch {
    throw new UsageError(`${flag}: ${JSON.stringify(v)} is not a URL`)
  }
}

export interface SelftestPlan {
  canary: HostPort
  canaryV6: HostPort
  udp: HostPort
  raw: HostPort
  control: URL
  doh: URL
  dohAddress: string | null
  skip: Set<string>
  timeoutMs: number
  json: boolean
}

export function parseSelftestArgs(argv: string[]): SelftestPlan {
  const { values } = parseFlags(argv, {
    canary: { type: 'string' },
    'canary-v6': { type: 'string' },
    udp: { type: 'string' },
    raw: { type: 'string' },
    control: { type: 'string' },
    doh: { type: 'string' },
    'doh-address': { type: 'string' },
    skip: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  })
  const timeout = values.timeout ?? '3000'
  if (!/^\d{1,6}$/.test(timeout) || Number(timeout) < 100 || Number(timeout) > 60_000) throw new UsageError(`--timeout: ${JSON.stringify(timeout)} is not 100..60000`)
  const skip = new Set((values.skip ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''))
  for (const s of skip) if (!(PROBES as readonly string[]).includes(s)) throw new UsageError(`--skip: unknown probe ${JSON.stringify(s)} (${PROBES.join(', ')})`)
  const dohAddress = values['doh-address'] ?? null
  if (dohAddress !== null && isIP(dohAddress) === 0) throw new UsageError(`--doh-address: ${JSON.stringify(dohAddress)} is not an IP address`)
  const raw = parseHostPort(values.raw ?? '1.1.1.1:853', null, '--raw')
  if (isIP(raw.host) === 0) throw new UsageError('--raw: needs an IP address, not a name')
  const udp = parseHostPort(values.udp ?? '1.1.1.1:443', 443, '--udp')
  if (isIP(udp.host) === 0) throw new UsageError('--udp: needs an IP address, not a name')
  return {
    canary: parseHostPort(values.canary ?? 'one.one.one.one:80', 80, '--canary'),
    canaryV6: parseHostPort(values['canary-v6'] ?? '[2606:4700:4700::1111]:80', 80, '--canary-v6'),
    udp,
    raw,
    control: parseUrl(values.control ?? 'http://127.0.0.1:15004/v1/tasks', '--control'),
    doh: parseUrl(values.doh ?? 'https://1.1.1.1/dns-query', '--doh'),
    dohAddress,
    skip,
    timeoutMs: Number(timeout),
    json: values.json ?? false,
  }
}

/** Runs the probes of `plan` concurrently (each bounded by its timeout); results in a fixed order. */
export async function runSelftest(plan: SelftestPlan): Promise<ProbeResult[]> {
  const jobs: Array<[string, () => Promise<ProbeResult>]> = [
    ['ipv4', () => probeDirect('ipv4', 4, plan.canary, plan.timeoutMs)],
    ['ipv6', () => probeDirect('ipv6', 6, plan.canaryV6, plan.timeoutMs)],
    ['udp-443', () => probeUdp(plan.udp, plan.timeoutMs)],
    ['raw-ip', () => probeRawIp(plan.raw, plan.timeoutMs)],
    ['control-api', () => probeControl(plan.control, plan.timeoutMs)],
    ['doh', () => probeDoh(plan.doh, plan.dohAddress, plan.timeoutMs)],
  ]
  return Promise.all(jobs.filter(([name]) => !plan.skip.has(name)).map(([, run]) => run()))
}

export function exitCodeOf(results: ProbeResult[]): number {
  if (results.some((r) => r.verdict === 'open')) return 1
  if (results.some((r) => r.verdict === 'unknown')) return 3
  return 0
}

export const selftestCommand: Command = {
  summary: 'inside a pod: prove that toolgate is the only way out (prints each path blocked/open)',
  usage: USAGE,
  async run(argv) {
    let plan: SelftestPlan
    try {
      plan = parseSelftestArgs(argv)
    } catch (e) {
      if (!(e instanceof UsageError)) throw e
      process.stderr.write(`toolgate selftest: ${e.message}\n\n${USAGE}`)
      return 2
    }
    const results = await runSelftest(plan)
    const code = exitCodeOf(results)
    const count = (v: string) => results.filter((r) => r.verdict === v).length
    if (plan.json) {
      for (const r of results) process.stdout.write(JSON.stringify(r) + '\n')
      process.stdout.write(JSON.stringify({ summary: { blocked: count('blocked'), open: count('open'), unknown: count('unknown') }, exit: code }) + '\n')
    } else {
      for (const r of results) process.stdout.write(`${r.verdict.padEnd(8)} ${r.probe.padEnd(12)} ${r.target}  ${r.detail}\n`)
      process.stdout.write(code === 0 ? 'selftest: every path out is blocked\n'
        : code === 1 ? `selftest: ${count('open')} path(s) out are OPEN without toolgate\n`
          : `selftest: nothing open, ${count('unknown')} probe(s) could not tell\n`)
    }
    return code
  },
}
