// Bundle server polling (OPA bundle service protocol) against a real node http server started
// here: ETag / If-None-Match with 304, a new revision swapped in, an outage that keeps the last
// good bundle with backoff, start while the server is down, an oversized response refused, and
// an https server verified against a configured CA file.

import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import type { PolicyEngineOptions } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { baseInput, buildBundle, eventually, metricValue, tempDir } from './helpers.ts'
import { makeServerCert, makeTestCa } from '../tls/helpers/https-upstream.ts'

const REGO = `package fixture

decision := {"allow": true, "reasons": [data.fixture.label]}
`

interface BundleServer {
  url: string
  bundle: Buffer | null
  /** 'up' serves the bundle; 'error' answers 503. */
  mode: 'up' | 'error'
  requests: Array<{ at: number; ifNoneMatch: string | undefined; status: number }>
  close(): Promise<void>
}

async function bundleServer(t: Test): Promise<BundleServer> {
  const state: BundleServer = { url: '', bundle: null, mode: 'up', requests: [], close: async () => {} }
  const server: Server = createServer((req, res) => {
    const inm = req.headers['if-none-match']
    let status: number
    if (state.mode === 'error' || state.bundle === null) {
      status = 503
      res.writeHead(503).end('unavailable')
    } else {
      const etag = `"${createHash('sha256').update(state.bundle).digest('hex').slice(0, 20)}"`
      if (inm === etag) {
        status = 304
        res.writeHead(304, { etag }).end()
      } else {
        status = 200
        res.writeHead(200, { etag, 'content-type': 'application/gzip', 'content-length': state.bundle.length }).end(state.bundle)
      }
    }
    state.requests.push({ at: Date.now(), ifNoneMatch: inm, status })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/toolgate.tar.gz`
  state.close = () => new Promise<void>((r) => server.close(() => r()))
  t.teardown(() => {
    server.closeAllConnections()
    return state.close()
  })
  return state
}

async function start(t: Test, url: string, extra: Partial<PolicyEngineOptions> = {}): Promise<{ engine: PolicyEngine; registry: Registry }> {
  const registry = new Registry()
  const engine = await PolicyEngine.start({
    source: { kind: 'http', url }, entrypoint: 'fixture/decision', registry, logger: silentLogger,
    poll: { minDelayMs: 50, maxDelayMs: 80 }, ...extra,
  })
  t.teardown(() => engine.close())
  return { engine, registry }
}

const bundleFor = (dir: string, label: string): Buffer =>
  buildBundle(dir, { files: { 'fixture/policy.rego': REGO, 'fixture/data.json': { label } }, manifest: { revision: label, roots: ['fixture'] } })

t.test('polls with ETag, 304 means unchanged, a new bundle is swapped in', async (t) => {
  const dir = tempDir(t)
  const srv = await bundleServer(t)
  srv.bundle = bundleFor(dir, 'v1')
  const { engine, registry } = await start(t, srv.url)
  t.equal(engine.revision, 'v1')
  t.equal(srv.requests[0]?.ifNoneMatch, undefined, 'first request is unconditional')
  t.ok(await eventually(() => srv.requests.filter((r) => r.status === 304).length >= 3), 'later polls are conditional and answered 304')
  const etag = srv.requests.find((r) => r.ifNoneMatch)?.ifNoneMatch
  t.match(etag, /^"[0-9a-f]{20}"$/, 'the ETag from the server is sent back in If-None-Match')
  t.ok(await metricValue(registry, 'toolgate_policy_bundle_loads_total', { source: 'http', result: 'unchanged' }) >= 3, 'unchanged polls counted')

  srv.bundle = bundleFor(dir, 'v2')
  t.ok(await eventually(() => engine.revision === 'v2'), 'new revision loaded')
  const d = engine.evaluate(baseInput())
  t.same(d, { ok: true, result: { allow: true, reasons: ['v2'] }, revision: 'v2' })
  t.equal(await metricValue(registry, 'toolgate_policy_revision_info', { revision: 'v2' }), 1)
})

t.test('outage: last good bundle kept, failures counted, retries back off', async (t) => {
  const dir = tempDir(t)
  const srv = await bundleServer(t)
  srv.bundle = bundleFor(dir, 'good')
  // Polling every 50-80 ms when healthy; on failure back off from 100 ms up to 1.6 s.
  const { engine, registry } = await start(t, srv.url, { poll: { minDelayMs: 50, maxDelayMs: 1600 } })
  t.equal(engine.revision, 'good')
  srv.mode = 'error'
  const outageStart = Date.now()
  srv.requests.length = 0
  await new Promise((r) => setTimeout(r, 2500))
  const during = srv.requests.filter((r) => r.at >= outageStart)
  t.ok(during.length >= 3, `kept retrying during the outage (${during.length} requests)`)
  // Without backoff a 50-1600 ms poll would be ~2 requests/s at worst 50/s; with backoff from
  // 100 ms doubling (jitter +/-20%) at most ~6 fit in 2.5 s.
  t.ok(during.length <= 7, `retries backed off (${during.length} requests in 2.5 s)`)
  const gaps = during.slice(1).map((r, i) => r.at - (during[i] as { at: number }).at)
  t.ok((gaps.at(-1) ?? 0) > (gaps[0] ?? 0), `gaps grow: ${gaps.join(', ')} ms`)
  t.same(engine.readiness(), { ready: true, reason: null }, 'still ready with the last good bundle')
  t.equal(engine.revision, 'good')
  t.equal(engine.evaluate(baseInput()).ok, true)
  t.ok(await metricValue(registry, 'toolgate_policy_bundle_loads_total', { source: 'http', result: 'failure' }) >= 3)

  srv.mode = 'up'
  srv.bundle = bundleFor(dir, 'after-outage')
  t.ok(await eventually(() => engine.revision === 'after-outage', 5000), 'recovers when the server is back')
})

t.test('starting while the server is down: unready (fail closed) until the first bundle', async (t) => {
  const dir = tempDir(t)
  const srv = await bundleServer(t)
  const { engine } = await start(t, srv.url)
  t.equal(engine.readiness().ready, false)
  t.match(engine.readiness().reason, /answered 503/)
  t.equal(engine.evaluate(baseInput()).ok, false, 'calls denied')
  srv.bundle = bundleFor(dir, 'first')
  t.ok(await eventually(() => engine.readiness().ready, 5000), 'ready once the server serves a bundle')
  t.equal(engine.revision, 'first')
})

t.test('unreachable server and oversized bundles are failures', async (t) => {
  const dir = tempDir(t)
  const srv = await bundleServer(t)
  srv.bundle = bundleFor(dir, 'big')
  const { engine } = await start(t, srv.url, { archiveLimits: { maxArchiveBytes: 1000, maxUnpackedBytes: 10_000, maxFiles: 10 } })
  t.match(engine.readiness().reason, /above the 1000 limit/)
  const dead = 'http://127.0.0.1:9/bundle.tar.gz' // discard port: nothing listens
  const { engine: e2 } = await start(t, dead)
  t.match(e2.readiness().reason, /unreachable/)
})

t.test('https bundle server: verified against the configured CA file, refused without it', async (t) => {
  const dir = tempDir(t)
  const ca = makeTestCa(dir, 'bundle-ca')
  const pair = makeServerCert(dir, ca, 'bundles', ['127.0.0.1'])
  const bundle = bundleFor(dir, 'tls')
  const server = createHttpsServer({ cert: pair.cert, key: pair.key }, (_req, res) => {
    res.writeHead(200, { etag: '"tls"', 'content-length': bundle.length }).end(bundle)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((r) => server.close(() => r()))
  })
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/bundle.tar.gz`
  const { engine } = await start(t, url, { caFile: ca.certFile })
  t.same(engine.readiness(), { ready: true, reason: null }, 'trusted through caFile')
  t.equal(engine.revision, 'tls')
  const { engine: untrusted } = await start(t, url)
  t.equal(untrusted.readiness().ready, false, 'an unknown CA is refused (upstream TLS is always verified)')
  t.match(untrusted.readiness().reason, /unreachable: .*(self-signed|unable to verify|certificate)/i)
})
