// The ClientHello reader, fed real ClientHellos (Node's TLS client and the openssl and curl CLIs,
// captured by a plain TCP server) and crafted malformed ones.
import t from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { parseClientHello } from '../../proxy/src/listen/transparent/client-hello.ts'

/** Captures the first bytes a client sends (until it gives up), as the listener sees them. */
async function capture(startClient: (port: number) => () => void): Promise<Buffer> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      const chunks: Buffer[] = []
      s.on('data', (d: Buffer) => {
        chunks.push(d)
        const all = Buffer.concat(chunks)
        if (parseClientHello(all).kind !== 'incomplete') { resolve(all); s.destroy() }
      })
      s.on('error', () => {})
    })
  })
  const stop = startClient(port)
  const buf = await got
  stop()
  server.close()
  return buf
}

function hello(sni: string | null, extra: Buffer[] = []): Buffer {
  const exts: Buffer[] = []
  if (sni !== null) {
    const name = Buffer.from(sni, 'latin1')
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name])
    const list = Buffer.concat([u16(entry.length), entry])
    exts.push(Buffer.concat([u16(0), u16(list.length), list]))
  }
  exts.push(...extra)
  const extBlock = Buffer.concat(exts)
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([1, 0]), u16(extBlock.length), extBlock])
  const hs = Buffer.concat([Buffer.from([1]), u24(body.length), body])
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs])
}
function u16(n: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }
function u24(n: number): Buffer { const b = Buffer.alloc(3); b.writeUIntBE(n, 0, 3); return b }

t.test('real clients: Node, openssl, curl', async (t) => {
  const node = await capture((port) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'API.Example.test', ALPNProtocols: ['h2', 'http/1.1'] })
    s.on('error', () => {})
    return () => s.destroy()
  })
  t.match(parseClientHello(node), { kind: 'ok', sni: 'api.example.test', alpn: ['h2', 'http/1.1'], bytes: node.length })

  const openssl = await capture((port) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'tool.example.test'], { stdio: ['pipe', 'ignore', 'ignore'] })
    return () => p.kill()
  })
  t.match(parseClientHello(openssl), { kind: 'ok', sni: 'tool.example.test' })

  const curl = await capture((port) => {
    const p = spawn('curl', ['-sk', '--max-time', '5', '--connect-to', `curl.example.test:443:127.0.0.1:${port}`, 'https://curl.example.test/'], { stdio: 'ignore' })
    return () => p.kill()
  })
  t.match(parseClientHello(curl), { kind: 'ok', sni: 'curl.example.test' })

  // Byte by byte: incomplete until the last byte, never an error on a prefix.
  for (let i = 0; i < node.length; i++) {
    if (parseClientHello(node.subarray(0, i)).kind !== 'incomplete') { t.fail(`prefix of ${i} bytes not incomplete`); break }
  }
  // No SNI (Node sends none for an IP address).
  const noSni = await capture((port) => {
    const s = tlsConnect({ host: '127.0.0.1', port })
    s.on('error', () => {})
    return () => s.destroy()
  })
  t.match(parseClientHello(noSni), { kind: 'ok', sni: null })
})

t.test('split across two handshake records', async (t) => {
  const whole = hello('split.example.test')
  const hs = whole.subarray(5)
  const a = hs.subarray(0, 10)
  const b = hs.subarray(10)
  const split = Buffer.concat([Buffer.from([0x16, 3, 1]), u16(a.length), a, Buffer.from([0x16, 3, 1]), u16(b.length), b])
  t.match(parseClientHello(split), { kind: 'ok', sni: 'split.example.test', bytes: split.length })
})

t.test('malformed and ambiguous ClientHellos are errors', async (t) => {
  const sniExt = (names: Buffer[]): Buffer => {
    const list = Buffer.concat(names)
    const body = Buffer.concat([u16(list.length), list])
    return Buffer.concat([u16(0), u16(body.length), body])
  }
  const name = (s: string): Buffer => Buffer.concat([Buffer.from([0]), u16(s.length), Buffer.from(s, 'latin1')])
  const cases: Array<[string, Buffer]> = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['SSLv3-less record version', Buffer.from([0x16, 2, 0, 0, 4, 1, 0, 0, 0])],
    ['not a ClientHello', Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])],
    ['two host names', (() => { const h = hello(null, [sniExt([name('a.test'), name('b.test')])]); return h })()],
    ['duplicate SNI extension', hello('a.test', [sniExt([name('b.test')])])],
    ['IP literal SNI', hello('10.0.0.1')],
    ['trailing dot', hello('a.test.')],
    ['NUL in name', hello('a\0.test')],
    ['space in name', hello('a b.test')],
    ['empty label', hello('a..test')],
    ['trailing garbage after ClientHello', (() => { const h = hello('a.test'); const hs = Buffer.concat([h.subarray(5), Buffer.from([0])]); return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]) })()],
    ['extension length overruns', (() => { const h = Buffer.from(hello('a.test')); h[h.length - 16] = 0xff; return h })()],
    ['zero-length record', Buffer.from([0x16, 3, 1, 0, 0])],
  ]
  for (const [what, buf] of cases) {
    const r = parseClientHello(buf)
    t.equal(r.kind, 'error', `${what}: ${JSON.stringify(r)}`)
  }
  t.match(parseClientHello(hello('ok.test')), { kind: 'ok', sni: 'ok.test' }, 'the crafted baseline itself is valid')
  const huge = Buffer.from([0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff])
  t.equal(parseClientHello(huge).kind, 'error', 'oversized ClientHello refused before buffering it')
})
