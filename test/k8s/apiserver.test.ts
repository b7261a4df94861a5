// The injector against a real kube-apiserver (+ etcd) on loopback: helm install the chart
// (self-managed certificate mode), run `toolgate inject` locally (the injector Deployment's pods
// never run: there is no kubelet, so they and every created pod stay Pending), point the chart's
// MutatingWebhookConfiguration at it by URL, create pods through the API server and assert the
// stored pods. Then the webhook goes down and failurePolicy decides.
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../helpers/tools.ts'
import { KubeApiError } from '../../proxy/src/inject/kube-client.ts'
import { reconcileServingCert } from '../../proxy/src/inject/self-managed-cert.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import type { Pod } from '../../proxy/src/inject/pod.ts'
import { startCluster, type Cluster } from './cluster.ts'

const exec = promisify(execFile)
const bins = { etcd: join(repoRoot, '.cache/bin/etcd'), apiserver: join(repoRoot, '.cache/bin/kube-apiserver'), helm: join(repoRoot, '.cache/bin/helm') }
const missing = Object.values(bins).filter((b) => !existsSync(b))
const isRoot = process.getuid?.() === 0
const RELEASE_NS = 'toolgate-system'
const MWC = `tg-toolgate-${RELEASE_NS}`
const SECRET_VALUE = 'sk-test-do-not-leak-3f9a'

if ((missing.length > 0 || !isRoot) && !process.env['CI']) {
  t.plan(0, `real API server test skipped: ${missing.length ? `missing ${missing.join(', ')} (run node scripts/prepare-helm.js scripts/prepare-kube.js)` : 'not running as root'}`)
} else {
  if (missing.length > 0) throw new Error(`CI: missing ${missing.join(', ')}`)
  let cluster: Cluster
  let injector: ChildProcess | null = null
  let injectorLog = ''

  t.before(async () => {
    cluster = await startCluster(bins.etcd, bins.apiserver)
  })
  t.teardown(async () => {
    injector?.kill('SIGTERM')
    await cluster?.stop()
  })

  const api = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => cluster.client.call<T>(method, path, body)
  const namespace = (name: string, labels: Record<string, string> = {}) =>
    api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
  // No controller-manager: create the `default` ServiceAccount the ServiceAccount admission plugin needs.
  const defaultSa = (ns: string) => api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } })
  const createPod = (ns: string, name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) =>
    api<Pod>('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels, annotations },
      spec: { containers: [{ name: 'agent', image: 'agent:1', env: [{ name: 'KEEP', value: '1' }] }] },
    })
  const getPod = (ns: string, name: string) => api<Pod>('GET', `/api/v1/namespaces/${ns}/pods/${name}`)

  /**
   * Runs `toolgate inject` locally with the arguments of the injector Deployment that helm stored,
   * changing only what must differ outside a pod: local paths, a loopback port, and the API server
   * address/credentials instead of the in-cluster ones.
   */
  async function startInjector(deploymentArgs: string[], settingsFile: string): Promise<void> {
    const local = deploymentArgs.map((a) => {
      if (a.startsWith('--settings=')) return `--settings=${settingsFile}`
      if (a.startsWith('--listen=')) return '--listen=127.0.0.1:0'
      if (a.startsWith('--cert-dir=')) return `--cert-dir=${join(cluster.dir, 'injector-tls')}`
      return a
    })
    const args = [
      join(repoRoot, 'bin/toolgate.js'), ...local, '--namespace', RELEASE_NS, '--extra-ips', '127.0.0.1',
      '--kube-server', cluster.server, '--kube-token-file', join(cluster.dir, 'admin.token'), '--kube-ca-file', join(cluster.dir, 'ca.crt'),
    ]
    writeFileSync(join(cluster.dir, 'admin.token'), cluster.token, { mode: 0o600 })
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    injector = child
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`injector did not start:\n${injectorLog}`)), 30_000)
      child.stderr!.on('data', (b: Buffer) => {
        injectorLog += b.toString()
        if (injectorLog.length > 200_000) injectorLog = injectorLog.slice(-100_000)
        const m = /"msg":"injector listening"[^\n]*"port":(\d+)/.exec(injectorLog)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      child.once('exit', (code) => reject(new Error(`injector exited ${code}:\n${injectorLog}`)))
    })
    // The Service has no endpoints (no kubelet): point both webhook entries at the local injector
    // by URL, keeping the caBundle the injector itself wrote (self-managed mode).
    const cfg = await api<{ webhooks: Array<{ clientConfig: Record<string, unknown> & { service?: { path: string } } }> }>('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`)
    for (const w of cfg.webhooks) {
      const path = w.clientConfig.service?.path ?? (new URL(String(w.clientConfig['url']))).pathname
      delete w.clientConfig.service
      w.clientConfig['url'] = `https://127.0.0.1:${port}${path}`
    }
    await api('PUT', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`, cfg)
  }

  t.test('helm install into the real API server', async (t) => {
    await namespace(RELEASE_NS)
    for (const ns of ['agents', 'plain']) await namespace(ns, ns === 'agents' ? { 'toolgate.dev/injection': 'enabled' } : {})
    for (const ns of ['agents', 'plain', 'kube-system']) await defaultSa(ns)
    await api('POST', '/api/v1/namespaces/agents/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'llm-key' }, stringData: { token: SECRET_VALUE } })
    const home = mkdtempSync(join(tmpdir(), 'tg-helm-home-'))
    const env = { ...process.env, KUBECONFIG: cluster.kubeconfig, HELM_CACHE_HOME: join(home, 'c'), HELM_CONFIG_HOME: join(home, 'f'), HELM_DATA_HOME: join(home, 'd') }
    const r = await exec(bins.helm, [
      'install', 'tg', join(repoRoot, 'charts/toolgate'), '-n', RELEASE_NS,
      '--set', 'certificate.mode=selfManaged', '--set', 'agentNamespaces={agents,plain}',
      '--set', 'injection.credentialSecrets={llm-key}', '--timeout', '60s',
    ], { env })
    t.match(r.stdout, /STATUS: deployed/)
    t.match(r.stdout, /kubectl label namespace <ns> toolgate.dev\/injection=enabled/, 'NOTES rendered')
    const dep = await api<{ status?: { readyReplicas?: number }; spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>('GET', `/apis/apps/v1/namespaces/${RELEASE_NS}/deployments/tg-toolgate-injector`)
    t.notOk(dep.status?.readyReplicas, 'injector Deployment stored; its pods never run here (no kubelet)')
    const cm = await api<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${RELEASE_NS}/configmaps/tg-toolgate-injector-settings`)
    const settingsFile = join(cluster.dir, 'settings.yaml')
    writeFileSync(settingsFile, cm.data['settings.yaml']!)
    const deploymentArgs = dep.spec.template.spec.containers[0]!.args
    t.equal(deploymentArgs[0], 'inject')
    t.ok(deploymentArgs.includes('--self-managed-cert'), 'chart runs the injector in self-managed certificate mode')
    await startInjector(deploymentArgs, settingsFile)
    const secret = await api<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${RELEASE_NS}/secrets/tg-toolgate-injector-tls`)
    t.ok(secret.data['tls.crt'] && secret.data['ca.crt'], 'self-managed certificate stored in its Secret')
    const cfg = await api<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`)
    t.ok(cfg.webhooks.every((w) => w.clientConfig.caBundle === secret.data['ca.crt']), 'caBundle patched by the injector')
  })

  t.test('opted-in namespace: stored pod is injected', async (t) => {
    await createPod('agents', 'agent-1')
    const pod = await getPod('agents', 'agent-1')
    t.ok(pod.metadata?.annotations?.['toolgate.dev/status'], 'status annotation')
    const inits = pod.spec.initContainers ?? []
    t.same(inits.map((c) => c.name), ['toolgate-init', 'toolgate'], 'iptables init + native sidecar')
    const side = inits[1]!
    t.equal(side.restartPolicy, 'Always')
    t.equal(pod.spec.automountServiceAccountToken, false)
    const agent = pod.spec.containers.find((c) => c.name === 'agent')!
    const env = Object.fromEntries((agent.env ?? []).map((e) => [e.name, e.value]))
    t.equal(env['HTTPS_PROXY'], 'http://127.0.0.1:15001')
    t.equal(env['KEEP'], '1')
    t.same((agent.volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}:${m.readOnly}`), ['toolgate-ca:/var/run/toolgate/ca:true'], 'agent mounts only the CA, read-only: no token, no secret')
    const sideMounts = (side.volumeMounts ?? []).map((m) => m.name).sort()
    t.same(sideMounts, ['toolgate-ca', 'toolgate-config', 'toolgate-cred-llm-key', 'toolgate-tmp', 'toolgate-token'])
    const vols = pod.spec.volumes ?? []
    t.notOk(vols.some((v) => v.name.startsWith('kube-api-access')), 'no default token volume in the stored pod')
    t.same(vols.find((v) => v.name === 'toolgate-token')?.projected?.sources, [{ serviceAccountToken: { audience: 'toolgate', expirationSeconds: 600, path: 'token' } }])
    t.equal(vols.find((v) => v.name === 'toolgate-cred-llm-key')?.secret?.secretName, 'llm-key')
    t.notOk(JSON.stringify(pod).includes(SECRET_VALUE), 'the secret value is nowhere in the pod')
  })

  t.test('not opted in, opted out, system namespace: untouched; pod label opts in', async (t) => {
    const untouched = async (ns: string, name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) => {
      await createPod(ns, name, labels, annotations)
      const pod = await getPod(ns, name)
      t.notOk(pod.metadata?.annotations?.['toolgate.dev/status'], `${ns}/${name}: no status annotation`)
      t.equal(pod.spec.initContainers, undefined, `${ns}/${name}: no init containers`)
      t.ok((pod.spec.volumes ?? []).some((v) => v.name.startsWith('kube-api-access')), `${ns}/${name}: keeps its default token`)
    }
    await untouched('plain', 'bystander')
    await untouched('agents', 'opted-out', { 'toolgate.dev/inject': 'false' })
    await untouched('agents', 'opted-out-ann', {}, { 'toolgate.dev/inject': 'false' })
    await untouched('kube-system', 'system', { 'toolgate.dev/inject': 'true' })
    await createPod('plain', 'labelled', { 'toolgate.dev/inject': 'true' }, { 'toolgate.dev/mode': 'proxy' })
    const pod = await getPod('plain', 'labelled')
    t.same((pod.spec.initContainers ?? []).map((c) => c.name), ['toolgate'], 'pod label opts in; mode annotation: proxy, no iptables init')
    t.match(JSON.parse(pod.metadata!.annotations!['toolgate.dev/status']!), { mode: 'proxy', config: 'toolgate-config' })
  })

  t.test('a bad annotation is rejected with a clear message', async (t) => {
    const err = await createPod('agents', 'bad', {}, { 'toolgate.dev/proxy-memory': 'plenty' }).then(() => null, (e: unknown) => e)
    t.ok(err instanceof KubeApiError, 'create refused')
    t.match((err as Error).message, /toolgate injector: annotation toolgate.dev\/proxy-memory: 'plenty' is not a Kubernetes quantity/)
  })

  t.test('self-managed rotation against the real API server (clock moved forward)', async (t) => {
    const secretPath = `/api/v1/namespaces/${RELEASE_NS}/secrets/tg-toolgate-injector-tls`
    const before = await api<{ data: Record<string, string> }>('GET', secretPath)
    const opts = {
      client: cluster.client, namespace: RELEASE_NS, secretName: 'tg-toolgate-injector-tls', webhookConfigName: MWC,
      dnsNames: ['tg-toolgate-injector.toolgate-system.svc'], ips: ['127.0.0.1'], certDir: join(cluster.dir, 'rotation-tls'),
      caValidityDays: 3650, servingValidityDays: 90, log: silentLogger,
    }
    await reconcileServingCert({ ...opts, now: () => new Date() })
    const same = await api<{ data: Record<string, string> }>('GET', secretPath)
    t.equal(same.data['tls.crt'], before.data['tls.crt'], 'fresh certificate: nothing rotated')
    await reconcileServingCert({ ...opts, now: () => new Date(Date.now() + 70 * 86_400_000) })
    const renewed = await api<{ data: Record<string, string> }>('GET', secretPath)
    t.not(renewed.data['tls.crt'], before.data['tls.crt'], 'serving certificate renewed at 2/3 of its life')
    t.equal(renewed.data['ca.crt'], before.data['ca.crt'], 'same CA')
    const bundle = await reconcileServingCert({ ...opts, now: () => new Date(Date.now() + 2500 * 86_400_000) })
    const rotated = await api<{ data: Record<string, string> }>('GET', secretPath)
    t.not(rotated.data['ca.crt'], before.data['ca.crt'], 'CA rotated at 2/3 of its life')
    t.equal(rotated.data['ca-previous.crt'], before.data['ca.crt'], 'previous CA kept while still valid')
    t.equal((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'caBundle trusts old and new CA')
    const cfg = await api<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`)
    t.ok(cfg.webhooks.every((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString() === bundle), 'caBundle patched')
    await createPod('agents', 'after-rotation')
    t.ok((await getPod('agents', 'after-rotation')).metadata?.annotations?.['toolgate.dev/status'], 'injector (old serving cert) still trusted during the CA rotation')
  })

  t.test('webhook down: failurePolicy Fail rejects, Ignore admits un-injected', async (t) => {
    const child = injector!
    const gone = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await gone
    injector = null
    const err = await createPod('agents', 'while-down').then(() => null, (e: unknown) => e)
    t.ok(err instanceof KubeApiError, 'Fail: create rejected')
    t.match((err as Error).message, /failed calling webhook/)
    await createPod('plain', 'bystander-while-down').then(() => t.pass('pods outside the selectors are unaffected'))
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`
    const cfg = await api<{ webhooks: Array<{ failurePolicy: string }> }>('GET', path)
    for (const w of cfg.webhooks) w.failurePolicy = 'Ignore'
    await api('PUT', path, cfg)
    // The API server picks up webhook configuration changes through a watch, a moment after the
    // PUT returns: until then the old failurePolicy (Fail) still applies, so retry for a bound.
    const deadline = Date.now() + 15_000
    for (;;) {
      const failed = await createPod('agents', 'while-down-ignore').then(() => null, (e: unknown) => e)
      if (failed === null) break
      if (!(failed instanceof KubeApiError) || !/failed calling webhook/.test(failed.message) || Date.now() > deadline) throw failed
      await new Promise((r) => setTimeout(r, 200))
    }
    const pod = await getPod('agents', 'while-down-ignore')
    t.notOk(pod.metadata?.annotations?.['toolgate.dev/status'], 'Ignore: admitted without the sidecar')
    t.equal(pod.spec.initContainers, undefined)
  })

  t.test('the injector log holds no secret and no token', async (t) => {
    t.ok(injectorLog.includes('"injected":true'), 'log has admission lines')
    t.notOk(injectorLog.includes(SECRET_VALUE))
    t.notOk(injectorLog.includes(cluster.token))
    t.notOk(injectorLog.includes('PRIVATE KEY'))
  })
}
