// `toolgate selftest` probes against real servers on loopback: real canaries (HTTP, TLS DoH, UDP
// echo, a silent TCP peer) must be reported open, and a real toolgate's transparent listeners
// (what a redirected connection reaches in a pod) must be reported blocked. The live-pod test
// (test/k8s/live.test.ts) runs the command inside real pods in both modes.
import t from 'tap'
import fc from 'fast-check'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { probeControl, probeDirect, probeDoh, probeRawIp, probeUdp, isToolgateRefusal, dohQuery } from '../../proxy/src/selftest/probes.ts'
import { exitCodeOf, parseHostPort, parseSelftestArgs } from '../../proxy/src/commands/selftest.ts'
import { startTestToolgate, testListenersWithTransparent } from '../helpers/toolgate.ts'
import { repoRoot } from '../helpers/tools.ts'

const listen = async <S extends Server | ReturnType<typeof createNetServer>>(s: S, host = '127.0.0.1'): Promise<number> => {
  const sockets = new Set<import('node:net').Socket>()
  s.on('connection', (c: import('node:net').Socket) => {
    sockets.add(c)
    c.on('close', () => sockets.delete(c))
  })
  s.listen(0, host)
  await once(s, 'listening')
  t.teardown(() => new Promise<void>((r) => {
    for (const c of sockets) c.destroy()
    s.close(() => r())
  }))
  return (s.address() as { port: number }).port
}

const canaryHits: string[] = []
const canary = createHttpServer((req, res) => {
  canaryHits.push(`${req.method} ${req.headers.host} ${req.url}`)
  res.end('canary says hi')
})
const canaryPort = await listen(canary)
const canary6 = createHttpServer((_req, res) => res.end('v6 canary'))
const canary6Port = await listen(canary6, '::1')

// The refusing side: a real toolgate with the transparent listeners of a pod.
const gate = await startTestToolgate(`version: 1
${testListenersWithTransparent}tools: []
`)
t.teardown(() => gate.close())
const portOf = (u: string | null) => Number(new URL(u!).port)
const gateHttp = portOf(gate.tg.transparent.http)
const gateTls = portOf(gate.tg.transparent.tls)

t.test('direct HTTP: a canary that answers is open; toolgate refusing it is blocked; nothing listening is blocked', async (t) => {
  const open = await probeDirect('ipv4', 4, { host: '127.0.0.1', port: canaryPort }, 2000)
  t.equal(open.verdict, 'open', open.detail)
  t.match(open.detail, /answered 200/)
  t.ok(canaryHits.some((h) => h.startsWith(`GET 127.0.0.1:${canaryPort} /`)), 'the canary really got the request')
  const byName = await probeDirect('ipv4', 4, { host: 'localhost', port: canaryPort }, 2000)
  t.equal(byName.verdict, 'open', 'a name is resolved to IPv4 and probed')
  const refused = await probeDirect('ipv4', 4, { host: '127.0.0.1', port: gateHttp }, 2000)
  t.equal(refused.verdict, 'blocked', refused.detail)
  t.match(refused.detail, /toolgate refused it \(400/)
  const closed = await probeDirect('ipv4', 4, { host: '127.0.0.1', port: 1 }, 2000)
  t.equal(closed.verdict, 'blocked')
  t.match(closed.detail, /ECONNREFUSED/)
  const v6 = await probeDirect('ipv6', 6, { host: '::1', port: canary6Port }, 2000)
  t.equal(v6.verdict, 'open', v6.detail)
  t.equal(v6.target, `[::1]:${canary6Port}`)
  const wrongFamily = await probeDirect('ipv6', 6, { host: '127.0.0.1', port: canaryPort }, 2000)
  t.equal(wrongFamily.verdict, 'unknown', 'an IPv4 literal is not an IPv6 probe')
})

t.test('raw IP: silent peers and non-HTTP answers are open (not proven blocked); toolgate is blocked', async (t) => {
  const silent = createNetServer((s) => s.end())
  const silentPort = await listen(silent)
  const r1 = await probeRawIp({ host: '127.0.0.1', port: silentPort }, 2000)
  t.equal(r1.verdict, 'open', 'connected and closed without a toolgate refusal: not proof of blocking')
  const talker = createNetServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'))
  const talkerPort = await listen(talker)
  const r2 = await probeRawIp({ host: '127.0.0.1', port: talkerPort }, 2000)
  t.equal(r2.verdict, 'open')
  t.match(r2.detail, /not HTTP/)
  const hang = createNetServer(() => { /* accepts, never answers */ })
  const hangPort = await listen(hang)
  const r3 = await probeRawIp({ host: '127.0.0.1', port: hangPort }, 300)
  t.equal(r3.verdict, 'open', 'a connection that stays up is a way out')
  const r4 = await probeRawIp({ host: '127.0.0.1', port: gateHttp }, 2000)
  t.equal(r4.verdict, 'blocked', r4.detail)
  t.match(r4.detail, /Host names port/)
})

t.test('UDP: an answer is open, ICMP refusal is blocked, silence is unknown', async (t) => {
  const echo = createSocket('udp4')
  echo.on('message', (m, rinfo) => echo.send(m.subarray(0, 16), rinfo.port, rinfo.address))
  echo.bind(0, '127.0.0.1')
  await once(echo, 'listening')
  t.teardown(() => echo.close())
  const mute = createSocket('udp4')
  mute.bind(0, '127.0.0.1')
  await once(mute, 'listening')
  t.teardown(() => mute.close())
  const got: Buffer[] = []
  mute.on('message', (m) => got.push(m))
  const r1 = await probeUdp({ host: '127.0.0.1', port: echo.address().port }, 2000)
  t.equal(r1.verdict, 'open', r1.detail)
  const r3 = await probeUdp({ host: '127.0.0.1', port: mute.address().port }, 300)
  t.equal(r3.verdict, 'unknown', r3.detail)
  t.equal(got[0]?.length, 1200, 'the probe is a full-size QUIC-shaped datagram')
  t.equal(got[0]?.readUInt32BE(1), 0x1a2a3a4a, 'with a reserved version (forces Version Negotiation)')
  // A closed UDP port on loopback answers with ICMP port unreachable.
  const closedPort = mute.address().port + 1
  const r2 = await probeUdp({ host: '127.0.0.1', port: closedPort === echo.address().port ? closedPort + 1 : closedPort }, 2000)
  t.equal(r2.verdict, 'blocked', r2.detail)
})

t.test('control API: 401/403/404 and no listener are blocked; an unauthenticated 201 or 400 is open', async (t) => {
  const statuses = [401, 403, 404, 201, 400]
  let next = 0
  const bodies: string[] = []
  const api = createHttpServer((req, res) => {
    let b = ''
    req.on('data', (c: Buffer) => (b += c.toString()))
    req.on('end', () => {
      bodies.push(`${req.method} ${req.url} ${req.headers.authorization ?? 'no-auth'} ${b}`)
      res.writeHead(statuses[next++]!).end()
    })
  })
  const port = await listen(api)
  const url = new URL(`http://127.0.0.1:${port}/v1/tasks`)
  const verdicts = []
  for (let i = 0; i < statuses.length; i++) verdicts.push((await probeControl(url, 2000)).verdict)
  t.same(verdicts, ['blocked', 'blocked', 'blocked', 'open', 'open'])
  t.same(bodies[0], 'POST /v1/tasks no-auth {}', 'an empty task, no credentials')
  t.equal((await probeControl(new URL('http://127.0.0.1:1/v1/tasks'), 2000)).verdict, 'blocked')
  const real = await probeControl(new URL(`${gate.adminUrl}/v1/tasks`), 2000)
  t.ok(real.verdict === 'open' || real.verdict === 'blocked', `the real admin listener: ${real.verdict} (${real.detail})`)
})

t.test('DoH: a resolver over TLS is open; toolgate\'s TLS listener dropping unknown SNI is blocked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-selftest-'))
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=doh.test'], { encoding: 'utf8' })
  t.equal(gen.status, 0, gen.stderr)
  const queries: string[] = []
  const doh = createHttpsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (req, res) => {
    queries.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'application/dns-message' }).end(Buffer.alloc(12))
  })
  const dohPort = await listen(doh)
  const open = await probeDoh(new URL(`https://doh.test:${dohPort}/dns-query`), '127.0.0.1', 2000)
  t.equal(open.verdict, 'open', open.detail)
  t.equal(queries[0], `/dns-query?dns=${dohQuery('example.com')}`)
  const dropped = await probeDoh(new URL(`https://doh.test:${gateTls}/dns-query`), '127.0.0.1', 2000)
  t.equal(dropped.verdict, 'blocked', dropped.detail)
  t.match(dropped.detail, /no TLS session/)
})

t.test('a DNS query encodes the name as labels', async (t) => {
  const q = Buffer.from(dohQuery('example.com'), 'base64url')
  t.same([...q.subarray(12)], [7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1])
})

t.test('refusal detection: only toolgate\'s JSON refusal shape counts', async (t) => {
  t.ok(isToolgateRefusal(403, '{"error":{"message":"toolgate: no match (decision x)","type":"permission_error","code":"denied","decision_id":"x"}}'))
  t.notOk(isToolgateRefusal(200, '{"error":{"message":"toolgate: x","type":"permission_error","code":"denied","decision_id":"x"}}'), 'a 200 is never a refusal')
  t.notOk(isToolgateRefusal(403, '{"error":{"message":"You are not allowed","type":"invalid_request_error","code":null}}'), "an upstream's OpenAI-shaped error is not toolgate's")
  t.notOk(isToolgateRefusal(403, '<html>forbidden</html>'))
  t.notOk(isToolgateRefusal(403, '{"error":1,"reason":"x"}'))
  // Property: any body that is not toolgate's error object (a message naming toolgate, a decision_id) is not a refusal,
  // so an unknown server can never be mistaken for toolgate (which would report a path blocked).
  fc.assert(fc.property(fc.integer({ min: 100, max: 599 }), fc.string(), (status, body) => {
    let shaped = false
    try {
      const e = (JSON.parse(body) as { error?: Record<string, unknown> } | null)?.error
      shaped = typeof e === 'object' && e !== null && typeof e['message'] === 'string' && e['message'].startsWith('toolgate: ') && 'decision_id' in e
    } catch { /* not JSON */ }
    return isToolgateRefusal(status, body) === (status >= 400 && shaped)
  }))
})

t.test('arguments: strict parsing, clear errors', async (t) => {
  t.same(parseHostPort('[::1]:8080', 80, '--x'), { host: '::1', port: 8080 })
  t.same(parseHostPort('::1', 80, '--x'), { host: '::1', port: 80 })
  t.same(parseHostPort('canary.test', 80, '--x'), { host: 'canary.test', port: 80 })
  t.throws(() => parseHostPort('h:0', 80, '--x'), /invalid port "0"/)
  t.throws(() => parseHostPort('h:65536', 80, '--x'), /invalid port "65536"/)
  t.throws(() => parseHostPort('h:080', 80, '--x'), /invalid port "080"/)
  t.throws(() => parseHostPort('[h]:1', 80, '--x'), /IPv6/)
  t.throws(() => parseHostPort('a b', 80, '--x'), /not HOST/)
  // The one host parser's rules (classify/target.ts), as for requests and the config:
  t.same(parseHostPort('Canary.TEST.:81', 80, '--x'), { host: 'canary.test', port: 81 }, 'canonical: lower case, no trailing dot')
  t.same(parseHostPort('[0:0:0:0:0:0:0:1]', 80, '--x'), { host: '::1', port: 80 }, 'IPv6 compressed')
  t.throws(() => parseHostPort('user@canary.test:80', 80, '--x'), /userinfo/)
  t.throws(() => parseHostPort('0x7f000001:80', 80, '--x'), /ambiguous IPv4/)
  t.throws(() => parseHostPort('127.1:80', 80, '--x'), /ambiguous IPv4/)
  t.throws(() => parseSelftestArgs(['--raw', 'example.com:22']), /needs an IP address/)
  t.throws(() => parseSelftestArgs(['--skip', 'nope']), /unknown probe/)
  t.throws(() => parseSelftestArgs(['--timeout', '5']), /100\.\.60000/)
  t.throws(() => parseSelftestArgs(['--bogus']), /Unknown option/)
  const p = parseSelftestArgs(['--skip', 'ipv6,doh'])
  t.same([...p.skip], ['ipv6', 'doh'])
  t.equal(exitCodeOf([]), 0)
  t.equal(exitCodeOf([{ probe: 'a', target: '', verdict: 'unknown', detail: '' }]), 3)
  t.equal(exitCodeOf([{ probe: 'a', target: '', verdict: 'unknown', detail: '' }, { probe: 'b', target: '', verdict: 'open', detail: '' }]), 1)
})

t.test('HOST:PORT parsing, for any host and port: accepted exactly when valid, and read back as written', async (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)
  const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'))
  // A numeric last label makes the host an IPv4 address to most resolvers: only dotted decimal
  // a.b.c.d is accepted (classify/target.ts), anything else numeric is refused as ambiguous.
  const isDottedQuad = (h: string) => /^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(h) && h.split('.').every((o) => Number(o) <= 255)
  fc.assert(fc.property(host, fc.integer({ min: 0, max: 70000 }), (h, port) => {
    const text = `${h}:${port}`
    if (/^[0-9]+$/.test(h.split('.').pop()!) && !isDottedQuad(h)) {
      try { parseHostPort(text, 80, '--x'); return false } catch (e) { return /ambiguous IPv4|port/.test((e as Error).message) }
    }
    if (port < 1 || port > 65535) {
      try { parseHostPort(text, 80, '--x'); return false } catch (e) { return /port/.test((e as Error).message) }
    }
    const r = parseHostPort(text, 80, '--x')
    return r.host === h && r.port === port
  }))
  fc.assert(fc.property(fc.string(), (junk) => {
    // Anything parsed is a host without spaces, brackets only around IPv6, and a port in range.
    try {
      const r = parseHostPort(junk, 80, '--x')
      return !/[\s\[\]]/.test(r.host) && r.port >= 1 && r.port <= 65535
    } catch { return true }
  }))
})

t.test('the command: text output and exit code 1 when a path is open', async (t) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'selftest', '--canary', `127.0.0.1:${canaryPort}`, '--skip', 'ipv6,udp-443,raw-ip,control-api,doh', '--json'], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 1, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(lines[0], { probe: 'ipv4', verdict: 'open' })
  t.match(lines[1], { summary: { open: 1, blocked: 0, unknown: 0 }, exit: 1 })
  const usage = spawnSync(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'selftest', '--timeout', 'x'], { encoding: 'utf8' })
  t.equal(usage.status, 2)
  t.match(usage.stderr, /--timeout/)
})
