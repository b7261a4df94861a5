import t from 'tap'
import { checkDestination, destinationRules, specialAddressKind } from '../../proxy/src/decide/destination.ts'

t.test('special address ranges are recognised', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.32.0.1', null],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.100.100.200', 'cloud metadata'],
    ['100.100.100.201', 'shared (CGNAT)'],
    ['0.0.0.0', 'unspecified'],
    ['8.8.8.8', null],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['fd00:ec2::255', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local (cloud metadata)'],
    ['2606:4700::1111', null],
    ['example.com', 'not an IP address'],
  ]
  for (const [addr, kind] of cases) t.equal(specialAddressKind(addr), kind, addr)
})

t.test('a tool reaches special addresses only when it names them', async (t) => {
  const byName = destinationRules('api.example.com')
  t.match(checkDestination('127.0.0.1', byName), /loopback; the tool must name it/)
  t.match(checkDestination('169.254.169.254', byName), /metadata/)
  t.equal(checkDestination('93.184.216.34', byName), null, 'public address is fine')

  const literal = destinationRules('127.0.0.1')
  t.equal(checkDestination('127.0.0.1', literal), null, 'IP literal named by match.host')
  t.not(checkDestination('127.0.0.2', literal), null, 'a neighbouring address is not named')

  const cidr = destinationRules('svc.internal', ['10.0.0.0/8', 'fd00::/8'])
  t.equal(checkDestination('10.9.8.7', cidr), null)
  t.equal(checkDestination('fd12::1', cidr), null)
  t.not(checkDestination('192.168.0.1', cidr), null)
  t.not(checkDestination('169.254.169.254', cidr), null, 'metadata stays refused unless named')

  const bracketed = destinationRules('[::1]')
  t.equal(checkDestination('::1', bracketed), null, 'bracketed IPv6 literal names ::1')
})

t.test('issue 14: CGNAT, NAT64, 6to4 and Teredo embeddings, and the pod\'s own addresses', async (t) => {
  const { networkInterfaces } = await import('node:os')
  const rules = destinationRules('api.example.com')
  const refused = [
    '100.64.0.1', '100.127.255.254', // CGNAT
    '64:ff9b::a9fe:a9fe', '64:ff9b::8.8.8.8', '64:ff9b:1::1', '64:ff9b:1:ffff::7f00:1', // NAT64
    '2002:7f00:1::', '2002:a9fe:a9fe::1', '2002:0a00:0001:1::1', // 6to4 of loopback, metadata, private
    '2001:0:a9fe:a9fe::1', // Teredo server = metadata
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo client = ~(80ff:fffe) = 127.0.0.1
  ]
  for (const a of refused) t.not(checkDestination(a, rules), null, `${a} refused: ${checkDestination(a, rules)}`)
  for (const a of ['2002:0808:0808::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '100.128.0.1', '2001:db9::1']) {
    t.equal(checkDestination(a, rules), null, `${a} (public embedding or outside the ranges) allowed`)
  }
  // Every address of this machine's interfaces, loopback or not, is refused unless named.
  const own = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined).map((a) => a!.address.split('%')[0]!)
  t.ok(own.length > 0)
  for (const a of own) {
    t.not(checkDestination(a, rules), null, `own address ${a} refused`)
    t.equal(checkDestination(a, destinationRules(a.includes(':') ? `[${a}]` : a)), null, `own address ${a} allowed when the tool names it`)
  }
  t.equal(checkDestination('2002:7f00:1::', destinationRules('x.example', ['2002::/16'])), null, 'allow_addresses can name a 6to4 range')
})
