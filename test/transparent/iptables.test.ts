// `toolgate iptables install|cleanup` for real, inside a throwaway network namespace: the rules
// land as specified, installing twice gives the same rule set, cleanup removes everything.
import t from 'tap'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import { main, parseCommand } from '../../proxy/src/listen/iptables/command.ts'
import { chainRules, egressRules, restoreInput } from '../../proxy/src/listen/iptables/rules.ts'
import { createNetns, skipReason } from './helpers/netns.ts'
import { repoRoot } from '../helpers/tools.ts'

const nodeBin = process.execPath

t.test('argument validation', async (t) => {
  const run = async (argv: string[]): Promise<{ code: number; err: string; out: string }> => {
    let err = ''
    let out = ''
    const code = await main(argv, { stderr: (s) => { err += s }, stdout: (s) => { out += s }, exec: async () => { throw new Error('must not run') } })
    return { code, err, out }
  }
  t.equal((await run(['--help'])).code, 0)
  t.match((await run(['install'])).err, /--proxy-uid is required/)
  t.match((await run(['install', '--proxy-uid', 'root'])).err, /numeric UID/)
  t.match((await run(['install', '--proxy-uid', '1', '--http-port', '70000'])).err, /port number/)
  t.match((await run(['install', '--proxy-uid', '1', '--exclude-cidrs', '10.0.0.0/33'])).err, /not an IPv4 or IPv6 CIDR/)
  t.match((await run(['reinstall', '--proxy-uid', '1'])).err, /install or cleanup/)
  t.equal((await run(['install', '--proxy-uid', '1', '--bogus'])).code, 2)
  const dry = await run(['install', '--proxy-uid', '1337', '--exclude-cidrs', '10.0.0.0/8,fd00::/8', '--exclude-ports', '22', '--dry-run'])
  t.equal(dry.code, 0)
  t.match(dry.out, /-A TOOLGATE_OUTPUT -m owner --uid-owner 1337 -j RETURN/)
  t.match(dry.out, /-A TOOLGATE_OUTPUT -d 10.0.0.0\/8 -j RETURN/)
  t.match(dry.out, /-A TOOLGATE_OUTPUT -d fd00::\/8 -j RETURN/)
  t.match(dry.out, /--dport 443 -j REDIRECT --to-ports 15443/)
  // Order matters: every RETURN comes before the first REDIRECT.
  const p = parseCommand(['install', '--proxy-uid', '7', '--exclude-ports', '22', '--redirect-all', '15099'])
  if (p === 'help') throw new Error('unexpected')
  const rules = chainRules(p.rules, 4).map((r) => r.join(' '))
  const firstRedirect = rules.findIndex((r) => r.includes('REDIRECT'))
  t.ok(rules.slice(firstRedirect).every((r) => r.includes('REDIRECT')), 'no RETURN after a REDIRECT')
  t.match(rules.at(-1), /^-p tcp -j REDIRECT --to-ports 15099$/, 'redirect-all comes last')
  // redirect-all also rejects what nat cannot catch (UDP/QUIC), keeping DNS and ICMPv6.
  const egress = egressRules(p.rules, 6).map((r) => r.join(' '))
  t.match(egress[0], /--uid-owner 7 -j RETURN/, 'toolgate itself first')
  t.ok(egress.some((r) => /^-p udp --dport 53 -j RETURN/.test(r)), 'DNS stays open')
  t.ok(egress.some((r) => /^-p ipv6-icmp -j RETURN/.test(r)), 'neighbour discovery stays open')
  t.match(egress.at(-1), /^-j REJECT/, 'everything else is rejected last')
  t.notMatch(restoreInput({ ...p.rules, redirectAllPort: null }, 4), /TOOLGATE_EGRESS/, 'no egress chain without redirect-all')
})

t.test('egress rules, for any options: toolgate first, every exemption before the one REJECT, which is last', async (t) => {
  const cidr4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 32 })).map(([a, b, n]) => `${a}.${b}.0.0/${n}`)
  const cidr6 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 128 })).map(([a, n]) => `${a.toString(16)}::/${n}`)
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 65535 }), fc.array(fc.oneof(cidr4, cidr6), { maxLength: 5 }), fc.constantFrom<4 | 6>(4, 6),
    (uid, excludeCidrs, family) => {
      const o = { proxyUid: uid, httpPort: 15002, tlsPort: 15003, excludeCidrs, excludePorts: [], redirectAllPort: 15002 }
      const rules = egressRules(o, family).map((r) => r.join(' '))
      const rejects = rules.filter((r) => r.includes('REJECT'))
      const wrongFamily = excludeCidrs.filter((c) => (c.includes(':') ? 6 : 4) !== family)
      return rules[0] === `-m owner --uid-owner ${uid} -j RETURN`
        && rejects.length === 1 && rules.at(-1)!.startsWith('-j REJECT')
        && rules.slice(0, -1).every((r) => r.includes('-j RETURN'))
        && rules.some((r) => r.startsWith('-p udp --dport 53 -j RETURN'))
        && wrongFamily.every((c) => !rules.some((r) => r.includes(c)))
        && restoreInput(o, family).includes(`:TOOLGATE_EGRESS - [0:0]`)
    }))
})

const skip = skipReason()
t.test('install / reinstall / cleanup in a network namespace', { skip }, async (t) => {
  const ns = createNetns({ veth: false })
  t.teardown(() => ns.destroy())
  const cli = (args: string[]): string => execFileSync('ip', ['netns', 'exec', ns.name, nodeBin, `${repoRoot}bin/toolgate.js`, 'iptables', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const save = (bin: string): string => ns.exec([bin, '-t', 'nat']).split('\n').filter((l) => !l.startsWith('#') && !/^:\S+ \w+ \[/.test(l.replace(/\[\d+:\d+\]/, '[0:0]')) || l.startsWith(':TOOLGATE')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n')
  const args = ['install', '--proxy-uid', '1337', '--http-port', '15080', '--tls-port', '15443', '--exclude-cidrs', '192.0.2.0/24,2001:db8::/32', '--exclude-ports', '22,5432']
  cli(args)
  const once = save('iptables-save')
  t.match(once, /-A OUTPUT -p tcp -j TOOLGATE_OUTPUT/)
  t.match(once, /-A TOOLGATE_OUTPUT -m owner --uid-owner 1337 .*-j RETURN/)
  t.match(once, /-A TOOLGATE_OUTPUT -d 192.0.2.0\/24 .*-j RETURN/)
  t.match(once, /-A TOOLGATE_OUTPUT -p tcp -m tcp --dport 5432 .*-j RETURN/)
  t.match(once, /-A TOOLGATE_OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15080/)
  t.notMatch(once, /2001:db8/, 'IPv6 CIDR not in the IPv4 table')
  const v6 = save('ip6tables-save')
  t.match(v6, /-A TOOLGATE_OUTPUT -d 2001:db8::\/32 .*-j RETURN/)
  t.match(v6, /-A OUTPUT -p tcp -j TOOLGATE_OUTPUT/)

  cli(args)
  t.equal(save('iptables-save'), once, 'installing twice gives the same IPv4 rules')
  t.equal(save('ip6tables-save'), v6, 'installing twice gives the same IPv6 rules')
  t.equal((once.match(/-A OUTPUT -p tcp -j TOOLGATE_OUTPUT/g) ?? []).length, 1, 'one jump')

  // A changed install replaces the chain contents (no stale rules).
  cli(['install', '--proxy-uid', '1337', '--tls-port', '16443'])
  const changed = save('iptables-save')
  t.match(changed, /--to-ports 16443/)
  t.notMatch(changed, /15443|192.0.2.0/)

  // redirect-all: the filter chain that rejects UDP; a reinstall without it removes it again.
  const filter = (bin: string): string => ns.exec([bin, '-t', 'filter']).split('\n').filter((l) => /TOOLGATE/.test(l)).join('\n')
  cli(['install', '--proxy-uid', '1337', '--redirect-all', '15080'])
  t.match(filter('iptables-save'), /-A OUTPUT -j TOOLGATE_EGRESS/)
  t.match(filter('iptables-save'), /-A TOOLGATE_EGRESS -p udp -m udp --dport 53 .*-j RETURN/)
  t.match(filter('iptables-save'), /-A TOOLGATE_EGRESS .*-j REJECT/)
  t.match(filter('ip6tables-save'), /-A TOOLGATE_EGRESS -p ipv6-icmp .*-j RETURN/)
  cli(['install', '--proxy-uid', '1337', '--redirect-all', '15080'])
  t.equal((filter('iptables-save').match(/-A OUTPUT -j TOOLGATE_EGRESS/g) ?? []).length, 1, 'one egress jump after reinstalling')
  cli(['install', '--proxy-uid', '1337'])
  t.equal(filter('iptables-save'), '', 'reinstall without redirect-all removes the egress chain')
  cli(['install', '--proxy-uid', '1337', '--redirect-all', '15080'])

  cli(['cleanup'])
  cli(['cleanup'])
  t.notMatch(save('iptables-save'), /TOOLGATE/, 'cleanup removes the chain and the jump')
  t.notMatch(save('ip6tables-save'), /TOOLGATE/)
  t.equal(filter('iptables-save') + filter('ip6tables-save'), '', 'and the egress chain and its jump')
})
