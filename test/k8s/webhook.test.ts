// The webhook HTTPS server on its own: AdmissionReview v1 in/out over real TLS, envelope errors,
// and a rotated serving certificate picked up without a restart.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { generateCa, issueServingCert } from '../../proxy/src/inject/serving-cert.ts'
import { startWebhookServer } from '../../proxy/src/inject/server.ts'
import { defaultSettings } from '../../proxy/src/inject/settings.ts'

const dir = mkdtempSync(join(tmpdir(), 'tg-webhook-'))
const ca = await generateCa('test CA', 1)
const write = (name: string, text: string) => {
  writeFileSync(join(dir, `${name}.tmp`), text)
  renameSync(join(dir, `${name}.tmp`), join(dir, name))
}
const first = await issueServingCert(ca, ['injector.test'], ['127.0.0.1'], 1)
write('tls.crt', first.certPem)
write('tls.key', first.keyPem)

const srv = await startWebhookServer({
  host: '127.0.0.1', port: 0, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'),
  settings: defaultSettings(), log: silentLogger, reloadIntervalMs: 60_000,
})
t.teardown(() => srv.close())

function post(path: string, body: string): Promise<{ status: number; text: string; peerSerial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: srv.port, path, method: 'POST', ca: ca.certPem, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? ''
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, peerSerial: serial }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const review = (object: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'agents', object, ...extra },
})
const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'a' }] } }

t.test('namespace entry injects, pod entry without label does not', async (t) => {
  const r = await post('/inject/namespace', review(pod))
  t.equal(r.status, 200)
  const out = JSON.parse(r.text) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } }
  t.match(out, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } })
  const ops = JSON.parse(Buffer.from(out.response.patch, 'base64').toString()) as Array<{ path: string }>
  t.ok(ops.some((o) => o.path === '/spec/initContainers'))
  const r2 = JSON.parse((await post('/inject/pod', review(pod))).text) as { response: { allowed: boolean; patch?: string } }
  t.same(r2.response, { uid: 'u-1', allowed: true }, 'no opt-in: allowed without patch')
  const upd = JSON.parse((await post('/inject/namespace', review(pod, { operation: 'UPDATE' }))).text) as { response: { patch?: string } }
  t.equal(upd.response.patch, undefined, 'only CREATE is mutated')
})

t.test('bad envelopes are 400, never "allowed"', async (t) => {
  t.equal((await post('/inject/pod', 'not json')).status, 400)
  t.equal((await post('/inject/pod', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }))).status, 400)
  t.equal((await post('/inject/pod', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }))).status, 400)
  t.equal((await post('/elsewhere', review(pod))).status, 404)
  t.equal((await post('/inject/pod', 'x'.repeat(4 * 1024 * 1024))).status, 413)
})

t.test('bad annotation: denied with the reason', async (t) => {
  const bad = { metadata: { name: 'p', annotations: { 'toolgate.dev/mode': 'nope' } }, spec: pod.spec }
  const out = JSON.parse((await post('/inject/namespace', review(bad))).text) as { response: { allowed: boolean; status: { message: string } } }
  t.equal(out.response.allowed, false)
  t.match(out.response.status.message, /toolgate.dev\/mode: 'nope'/)
})

t.test('rotated serving certificate is served without restart', async (t) => {
  const before = await post('/inject/pod', review(pod))
  t.equal(before.peerSerial, new X509Certificate(first.certPem).serialNumber)
  const second = await issueServingCert(ca, ['injector.test'], ['127.0.0.1'], 1)
  write('tls.key', second.keyPem)
  t.equal(srv.reloadCertificate(), false, 'half-rotated pair (new key, old cert) is not applied')
  write('tls.crt', second.certPem)
  t.equal(srv.reloadCertificate(), true, 'complete new pair applied')
  const after = await post('/inject/pod', review(pod))
  t.equal(after.peerSerial, new X509Certificate(second.certPem).serialNumber, 'new connections get the new certificate')
  t.equal(srv.reloadCertificate(), false, 'unchanged files: no reload')
})
