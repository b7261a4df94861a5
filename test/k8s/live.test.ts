// Injected pods for real: etcd + kube-apiserver (cluster.ts), a kubelet with containerd, runc and
// the CNI bridge (node.ts), and the toolgate image built from the Dockerfile's tree (images.ts).
// `helm install` the chart, label a namespace, run agent pods (curl, Python and Node clients) and
// check, in the running pods: start order, the redirect, the probes, allowed/denied calls with the
// credential the agent never sees, transparent catching, raw TCP and IPv6, no token or Secret in
// the agent, a Job that completes, failurePolicy Fail, the drain on deletion, and
// `toolgate selftest` in both modes.
//
// What is not real here, and why: there is no scheduler or kube-proxy, and kube-controller-manager
// runs only its Job and EndpointSlice controllers (pods are bare Pods with nodeName, the Job's template names the
// node; the `default` ServiceAccount and kube-root-ca.crt are created by the test). The injector
// runs as a pod too: the Deployment's pod template as a bare Pod, reached through its Service's
// EndpointSlice (the endpointslice controller runs; the API server routes to endpoints).
// Upstreams and canaries are servers on the node's bridge address.
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../helpers/tools.ts'
import { KubeApiError } from '../../proxy/src/inject/kube-client.ts'
import type { Pod } from '../../proxy/src/inject/pod.ts'
import { startCluster, type Cluster } from './cluster.ts'
import { startControllerManager, type ControllerManager } from './controllers.ts'
import { containerIdOf, liveNodeUnavailable, NODE_IP, NODE_IP6, NODE_NAME, startLiveNode, type LiveNode } from './node.ts'
import { AGENT_UID, agentRootfs, packImage, pauseRootfs, toolgateRootfs, TOOLGATE_IMAGE_CONFIG } from './images.ts'

const exec = promisify(execFile)
const bin = (n: string) => join(repoRoot, '.cache/bin', n)
const bins = { etcd: bin('etcd'), apiserver: bin('kube-apiserver'), helm: bin('helm'), kubelet: bin('kubelet'), kcm: bin('kube-controller-manager'), pause: bin('pause') }
const missing = Object.values(bins).filter((b) => !existsSync(b))
const unavailable = liveNodeUnavailable()
const RELEASE_NS = 'toolgate-system'
const NS = 'agents'
const MWC = `tg-toolgate-${RELEASE_NS}`
const SECRET = 'sk-live-do-not-leak-8c1e52'
const IMAGES = { toolgate: 'toolgate.test/toolgate:1', agent: 'toolgate.test/agent:1', pause: 'toolgate.test/pause:1' }
const PORTS = { canary: 8081, raw: 5433 }

type LivePod = Pod & { status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] } }
interface ContainerStatus { name: string; ready: boolean; started?: boolean; containerID?: string; state?: { running?: { startedAt: string }; terminated?: { exitCode: number; reason?: string; startedAt?: string; finishedAt?: string } } }

if ((missing.length > 0 || unavailable !== null) && !process.env['CI']) {
  t.plan(0, `live-node test skipped: ${missing.length ? `missing ${missing.join(', ')} (run node scripts/prepare-helm.js scripts/prepare-kube.js)` : unavailable}`)
} else {
  if (missing.length > 0 || unavailable !== null) throw new Error(`CI: ${missing.length ? `missing ${missing.join(', ')}` : unavailable}`)
  let cluster: Cluster | undefined
  let node: LiveNode | undefined
  let kcm: ControllerManager | undefined
  const work = mkdtempSync(join(tmpdir(), 'tg-live-'))
  const closers: Array<() => void> = []
  const timings: Record<string, number> = {}
  const timed = async <T>(label: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = Date.now()
    try { return await f() } finally { timings[label] = Date.now() - t0 }
  }

  // What reached the node's servers (the pods' only reachable host).
  const upstreamSeen: Array<{ path: string; headers: IncomingHttpHeaders; at: number }> = []
  const canarySeen: string[] = []
  const rawSeen: string[] = []
  const udpSeen: string[] = []
  const dohSeen: string[] = []

  t.teardown(async () => {
    for (const c of closers) { try { c() } catch { /* already closed */ } }
    // Order: the node (pods, kubelet, containerd, network) before the control plane it talks to.
    await kcm?.stop()
    await node?.stop()
    await cluster?.stop()
    rmSync(work, { recursive: true, force: true })
    t.comment(`timings (ms): ${JSON.stringify(timings)}`)
  })

  const api = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => cluster!.client.call<T>(method, path, body)
  /** DELETE (the injector's client has no use for it, so the test sends it itself). */
  const del = (path: string) => new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${cluster!.server}${path}`, { method: 'DELETE', ca: cluster!.caPem, headers: { authorization: `Bearer ${cluster!.token}` }, timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 || res.statusCode === 202 ? resolve(res.statusCode) : reject(new Error(`DELETE ${path}: ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end()
  })
  const getPod = (name: string, ns = NS) => api<LivePod>('GET', `/api/v1/namespaces/${ns}/pods/${name}`)
  const statusOf = (p: LivePod, name: string): ContainerStatus | undefined =>
    [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find((c) => c.name === name)

  async function waitFor<T>(what: string, f: () => Promise<T | null>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let last: unknown = null
    for (;;) {
      try {
        const v = await f()
        if (v !== null) return v
      } catch (e) { last = e }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}\n${node?.logs().slice(-4000) ?? ''}`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  const waitRunning = (name: string, ns = NS) => waitFor(`pod ${name} running and ready`, async () => {
    const p = await getPod(name, ns)
    if (p.status?.phase === 'Failed') throw new Error(`pod ${name} failed: ${JSON.stringify(p.status)}`)
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : null
  })

  /** Runs a command in a pod's container; the agent's node binary is /usr/local/bin/node. */
  async function inPod(pod: LivePod, container: string, cmd: string[]) {
    return node!.exec(containerIdOf(pod, container), cmd)
  }
  /** A container's log as the kubelet wrote it (bounded). */
  const containerLog = (pod: string, container: string): string => {
    const logDir = join(node!.dir, 'pod-logs')
    const podDir = readdirSync(logDir).find((d) => d.startsWith(`${NS}_${pod}_`))
    if (!podDir || !existsSync(join(logDir, podDir, container))) return ''
    return readdirSync(join(logDir, podDir, container)).map((f) => readFileSync(join(logDir, podDir, container, f), 'utf8')).join('').slice(-20_000)
  }
  const nodeIn = (pod: LivePod, script: string) => inPod(pod, 'agent', ['/usr/local/bin/node', '-e', script])

  /**
   * The injector as a pod: the chart's Deployment cannot be scheduled here (no scheduler), so the
   * test creates its pod template as a bare Pod on the node, under the Deployment's labels. The
   * Service selects it, the EndpointSlice controller lists it once its readiness probe passes, and
   * the API server (--enable-aggregator-routing) calls the webhook Service at that endpoint,
   * verifying the chart's certificate for the Service's DNS name.
   */
  async function startInjectorPod(name: string): Promise<LivePod> {
    const dep = await api<{ spec: { template: { metadata: { labels: Record<string, string> }; spec: Pod['spec'] } } }>('GET', `/apis/apps/v1/namespaces/${RELEASE_NS}/deployments/tg-toolgate-injector`)
    const tpl = dep.spec.template
    await api('POST', `/api/v1/namespaces/${RELEASE_NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, labels: tpl.metadata.labels },
      spec: { ...tpl.spec, nodeName: NODE_NAME, affinity: undefined },
    })
    const pod = await waitRunning(name, RELEASE_NS)
    await waitFor('the injector endpoint', async () => {
      const slices = await api<{ items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> }>('GET', `/apis/discovery.k8s.io/v1/namespaces/${RELEASE_NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dtg-toolgate-injector`)
      return slices.items.some((sl) => (sl.endpoints ?? []).some((e) => e.addresses.includes(pod.status!.podIP!) && e.conditions?.ready === true)) ? true : null
    }, 60_000)
    return pod
  }

  // The agent's first act, before anything else: a call through the proxy. With a native sidecar
  // it can only succeed if the sidecar was serving before the agent started.
  const AGENT_MAIN = `
const http = require('node:http')
const r = http.get({ host: '127.0.0.1', port: 15001, path: 'http://${NODE_IP}/allowed/first-call', headers: { host: '${NODE_IP}' }, agent: false }, (res) => {
  res.resume(); console.log('FIRST-CALL ' + res.statusCode)
})
r.on('error', (e) => console.log('FIRST-CALL error ' + e.code))
setInterval(() => {}, 1 << 30)
process.on('SIGTERM', () => process.exit(0))
`
  const agentPod = (name: string, extra: { annotations?: Record<string, string>; restartPolicy?: string; command?: string[] } = {}) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, annotations: extra.annotations ?? {}, labels: { app: 'agent' } },
    spec: {
      nodeName: NODE_NAME,
      restartPolicy: extra.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: 30,
      containers: [{
        name: 'agent', image: IMAGES.agent, imagePullPolicy: 'Never',
        command: extra.command ?? ['/usr/local/bin/node', '-e', AGENT_MAIN],
        // The agent's own JVM options from a ConfigMap: the injector must keep them (renamed) and
        // the kubelet must expand them ahead of toolgate's (checked in the agent below).
        env: [{ name: 'JAVA_TOOL_OPTIONS', valueFrom: { configMapKeyRef: { name: 'jvm-options', key: 'opts' } } }],
        securityContext: { runAsUser: AGENT_UID, runAsGroup: AGENT_UID, allowPrivilegeEscalation: false },
      }],
    },
  })

  t.before(async () => {
    // Aggregator routing: the API server calls webhook Services at their endpoints (no kube-proxy).
    cluster = await timed('control plane start', () => startCluster(bins.etcd, bins.apiserver, 90_000, ['--enable-aggregator-routing=true']))
    node = await timed('node start (containerd + kubelet Ready)', () => startLiveNode(cluster!, bins.kubelet))

    // Images: the Dockerfile's tree, the agent tree, the pause binary; imported into containerd.
    await timed('images build + import', () => {
      const tg = toolgateRootfs(join(work, 'rootfs-toolgate')).tree
      const agent = agentRootfs(tg, join(work, 'rootfs-agent'))
      const pause = pauseRootfs(bins.pause, join(work, 'rootfs-pause'))
      const packs: Array<[string, string, object]> = [
        [tg, IMAGES.toolgate, TOOLGATE_IMAGE_CONFIG],
        [agent, IMAGES.agent, { ...TOOLGATE_IMAGE_CONFIG, User: `${AGENT_UID}:${AGENT_UID}` }],
        [pause, IMAGES.pause, { Entrypoint: ['/pause'], User: '65535:65535' }],
      ]
      for (const [root, ref, cfg] of packs) {
        const tar = join(work, `${ref.replace(/[/:]/g, '_')}.tar`)
        packImage(root, ref, cfg, tar)
        node!.importImage(tar)
        rmSync(tar)
        rmSync(root, { recursive: true, force: true })
      }
    })

    // Servers on the node's bridge address: the tool upstream (port 80), canaries for selftest.
    const listen = async (s: NetServer, port: number, host = NODE_IP) => {
      const sockets = new Set<Socket>()
      s.on('connection', (c: Socket) => { sockets.add(c); c.on('close', () => sockets.delete(c)) })
      s.listen(port, host)
      await once(s, 'listening')
      closers.push(() => { for (const c of sockets) c.destroy(); s.close() })
    }
    await listen(createHttpServer((req, res) => {
      upstreamSeen.push({ path: req.url ?? '', headers: req.headers, at: Date.now() })
      const ok = req.headers.authorization === `Bearer ${SECRET}`
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, credential_ok: ok }))
    }), 80)
    for (const host of [NODE_IP, NODE_IP6]) {
      await listen(createHttpServer((req, res) => { canarySeen.push(`${host} ${req.url}`); res.end('canary') }), PORTS.canary, host)
      await listen(createNetServer((s) => { rawSeen.push(host); s.end('RAW-OK\n') }), PORTS.raw, host)
    }
    const tlsDir = join(work, 'doh')
    mkdirSync(tlsDir)
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(tlsDir, 'k.pem'), '-out', join(tlsDir, 'c.pem'), '-days', '1', '-subj', '/CN=doh.test', '-addext', `subjectAltName=IP:${NODE_IP}`])
    if (gen.status !== 0) throw new Error(`openssl: ${gen.stderr}`)
    await listen(createHttpsServer({ key: readFileSync(join(tlsDir, 'k.pem')), cert: readFileSync(join(tlsDir, 'c.pem')) }, (req, res) => {
      dohSeen.push(req.url ?? '')
      res.writeHead(200, { 'content-type': 'application/dns-message' }).end(Buffer.alloc(12))
    }) as unknown as NetServer, 443)
    const udp: UdpSocket = createSocket('udp4')
    udp.on('message', (m, r) => { udpSeen.push(`${r.address}:${m.length}`); udp.send(m.subarray(0, 32), r.port, r.address) })
    udp.bind(443, NODE_IP)
    await once(udp, 'listening')
    closers.push(() => udp.close())
  })

  t.test('helm install the chart; label a namespace; the injector runs as a pod and serves', async (t) => {
    await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE_NS } })
    await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'toolgate.dev/injection': 'enabled' } } })
    // No controller-manager: what its ServiceAccount and root-CA publishers would create.
    for (const ns of [RELEASE_NS, NS]) {
      await api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } })
      await api('POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': cluster!.caPem } })
    }
    await api('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'upstream-key' }, stringData: { token: SECRET } })
    await api('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jvm-options' }, data: { opts: '-Dapp.from=configmap -Xss1m' } })
    const values = {
      image: { repository: IMAGES.toolgate.split(':')[0], tag: '1', pullPolicy: 'Never' },
      agentNamespaces: [NS],
      injection: { credentialSecrets: ['upstream-key'] },
      sidecarConfig: {
        credentials: { upstream: { type: 'static', secret_file: '/etc/toolgate-credentials/upstream-key/token' } },
        tools: [{
          name: 'upstream', description: 'test upstream on the node',
          match: { scheme: 'http', host: NODE_IP, port: 80 },
          routes: [{ name: 'allowed', methods: ['GET'], path: '/allowed/**' }],
          credential: { provider: 'upstream' },
        }],
      },
    }
    writeFileSync(join(work, 'values.json'), JSON.stringify(values))
    const home = join(work, 'helm-home')
    const env = { ...process.env, KUBECONFIG: cluster!.kubeconfig, HELM_CACHE_HOME: join(home, 'c'), HELM_CONFIG_HOME: join(home, 'f'), HELM_DATA_HOME: join(home, 'd') }
    const r = await timed('helm install', () => exec(bins.helm, ['install', 'tg', join(repoRoot, 'charts/toolgate'), '-n', RELEASE_NS, '-f', join(work, 'values.json'), '--timeout', '60s'], { env }))
    t.match(r.stdout, /STATUS: deployed/)
    const dep = await api<{ spec: { template: { spec: { containers: Array<{ args: string[]; image: string }> } } } }>('GET', `/apis/apps/v1/namespaces/${RELEASE_NS}/deployments/tg-toolgate-injector`)
    t.equal(dep.spec.template.spec.containers[0]!.image, IMAGES.toolgate, 'the chart runs the image given with --set image.repository/tag')
    t.equal(dep.spec.template.spec.containers[0]!.args[0], 'inject', 'the injector is the image\'s entrypoint with `inject`')
    kcm = await timed('kube-controller-manager start', () => startControllerManager(cluster!, bins.kcm, ['job', 'endpointslice']))
    const injectorPod = await timed('injector pod → Ready + endpoint', () => startInjectorPod('injector-1'))
    t.equal(statusOf(injectorPod, 'injector')?.ready, true, 'the injector pod (the image, `inject`) passes its HTTPS readiness probe')
  })

  let agent: LivePod
  t.test('an injected agent pod runs: native sidecar first, redirect installed, probes pass', async (t) => {
    const created = await api<LivePod>('POST', `/api/v1/namespaces/${NS}/pods`, agentPod('agent'))
    t.same(created.spec.initContainers?.map((c) => c.name), ['toolgate-init', 'toolgate'], 'injected: iptables init + native sidecar')
    agent = await timed('agent pod create → Ready', () => waitRunning('agent'))
    const init = statusOf(agent, 'toolgate-init')!
    t.equal(init.state?.terminated?.exitCode, 0, 'the iptables init container succeeded')
    const side = statusOf(agent, 'toolgate')!
    t.ok(side.started && side.ready, 'sidecar started (startupProbe httpGet /healthz) and ready (readinessProbe httpGet /readyz)')
    const main = statusOf(agent, 'agent')!
    t.ok(Date.parse(main.state!.running!.startedAt) >= Date.parse(side.state!.running!.startedAt), 'the agent started after the sidecar')
    const first = await waitFor('the agent\'s first call', async () => upstreamSeen.find((s) => s.path === '/allowed/first-call') ?? null, 20_000)
      .catch((e: Error) => { throw new Error(`${e.message.split('\n')[0]}; agent log: ${containerLog('agent', 'agent')}`) })
    t.equal(first.headers.authorization, `Bearer ${SECRET}`, 'the agent\'s very first call went through the sidecar, credential injected')

    // The redirect, as the init container left it in the pod's network namespace.
    const pid = node!.pid(containerIdOf(agent, 'agent'))
    const nat = spawnSync('nsenter', ['-t', String(pid), '-n', 'iptables-legacy', '-t', 'nat', '-S'], { encoding: 'utf8' }).stdout
    t.match(nat, /-A OUTPUT -p tcp -j TOOLGATE_OUTPUT/)
    t.match(nat, /-A TOOLGATE_OUTPUT -m owner --uid-owner 15337 .*-j RETURN/)
    t.match(nat, /--dport 443 -j REDIRECT --to-ports 15003/)
    const nat6 = spawnSync('nsenter', ['-t', String(pid), '-n', 'ip6tables-legacy', '-t', 'nat', '-S'], { encoding: 'utf8' }).stdout
    t.match(nat6, /-A OUTPUT -p tcp -j TOOLGATE_OUTPUT/, 'IPv6 redirected too')
    const filter = spawnSync('nsenter', ['-t', String(pid), '-n', 'iptables-legacy', '-t', 'filter', '-S'], { encoding: 'utf8' }).stdout
    t.match(filter, /-A TOOLGATE_EGRESS .*-j REJECT/, 'non-TCP egress rejected')
    // The kubelet's probes reach the health listener on the pod IP.
    const health = await fetch(`http://${agent.status!.podIP}:15021/readyz`)
    t.equal(health.status, 200, 'health listener on the pod IP answers /readyz')
  })

  t.test('allowed calls reach the upstream with the credential; the agent never sees it; denied is 403', async (t) => {
    const before = upstreamSeen.length
    const curl = await inPod(agent, 'agent', ['/usr/bin/curl', '-sS', '-w', '\\n%{http_code}', `http://${NODE_IP}/allowed/curl`])
    t.match(curl.stdout, /"credential_ok":true[^]*\n200$/, 'curl (proxy variables)')
    const py = await inPod(agent, 'agent', ['/usr/bin/python3', '-c', `import urllib.request as u; r = u.urlopen('http://${NODE_IP}/allowed/python'); print(r.status, r.read().decode())`])
    t.match(py.stdout, /^200 .*"credential_ok":true/, `python urllib (proxy variables) ${py.stderr}`)
    // Node's fetch without NODE_USE_ENV_PROXY (which the injector sets) ignores the proxy variables:
    // run it in a child with that one variable removed, to show the redirect catches it.
    const inner = `fetch('http://${NODE_IP}/allowed/node').then(async (r) => console.log(r.status, await r.text()), (e) => console.log('error', e.cause?.code))`
    const nodeFetch = await nodeIn(agent, `const env = { ...process.env }; delete env.NODE_USE_ENV_PROXY
process.stdout.write(require('node:child_process').execFileSync(process.execPath, ['-e', ${JSON.stringify(inner)}], { env }))`)
    t.match(nodeFetch.stdout, /^200 .*"credential_ok":true/, 'node fetch without NODE_USE_ENV_PROXY, which ignores the proxy variables: caught by the redirect')
    // With the injector's NODE_USE_ENV_PROXY=1, Node sends even http:// through the proxy, as a
    // CONNECT tunnel whose plain-HTTP first bytes toolgate decides as http.
    const nodeProxied = await nodeIn(agent, `fetch('http://${NODE_IP}/allowed/node-proxied').then(async (r) => console.log(r.status, await r.text()), (e) => console.log('error', e.cause?.code ?? e.message))`)
    t.match(nodeProxied.stdout, /^200 .*"credential_ok":true/, `node fetch with NODE_USE_ENV_PROXY (proxy mode, CONNECT to an http tool): ${nodeProxied.stdout}`)
    for (const out of [curl.stdout, py.stdout, nodeFetch.stdout, nodeProxied.stdout, curl.stderr, py.stderr, nodeFetch.stderr, nodeProxied.stderr]) t.notOk(out.includes(SECRET), 'the secret never reaches the agent')
    const seen = upstreamSeen.slice(before)
    t.same(seen.map((s) => s.path).sort(), ['/allowed/curl', '/allowed/node', '/allowed/node-proxied', '/allowed/python'])
    t.ok(seen.every((s) => s.headers.authorization === `Bearer ${SECRET}`), 'each with the injected credential')

    const denied = await inPod(agent, 'agent', ['/usr/bin/curl', '-sS', '-w', '\\n%{http_code}', `http://${NODE_IP}/forbidden`])
    t.match(denied.stdout, /"code":"denied"[^]*"decision_id"[^]*\n403$/, 'denied: 403 with the decision id')
    t.notOk(upstreamSeen.some((s) => s.path === '/forbidden'), 'the denied call never left the pod')
  })

  t.test('transparent mode: proxy variables ignored, raw TCP, IPv6 — all decided or refused', async (t) => {
    const direct = await inPod(agent, 'agent', ['/usr/bin/curl', '-sS', '--noproxy', '*', '-w', '\\n%{http_code}', `http://${NODE_IP}/allowed/direct`])
    t.match(direct.stdout, /"credential_ok":true[^]*\n200$/, 'curl --noproxy: caught, decided, credential injected')
    const directDenied = await inPod(agent, 'agent', ['/usr/bin/curl', '-sS', '--noproxy', '*', '-w', '\\n%{http_code}', `http://${NODE_IP}/forbidden-direct`])
    t.match(directDenied.stdout, /\n403$/, 'curl --noproxy to a denied path: 403')
    t.notOk(upstreamSeen.some((s) => s.path === '/forbidden-direct'))
    // Another port on the node, over IPv4 and IPv6, and another address: the injector pod's
    // webhook port (a TLS server that would answer a ClientHello, not these bytes).
    const injectorIp = (await getPod('injector-1', RELEASE_NS)).status!.podIP!
    const raw = await nodeIn(agent, `
const net = require('node:net')
const go = (host, port) => new Promise((res) => { const s = net.connect({ host, port }); let d = ''
  s.on('data', (b) => d += b); s.on('error', (e) => res(host + ' error ' + e.code)); s.on('close', () => res(host + ' ' + JSON.stringify(d.slice(0, 80))))
  s.on('connect', () => s.write('HELLO\\r\\n\\r\\n')); setTimeout(() => { s.destroy(); res(host + ' timeout') }, 5000) })
Promise.all([go('${NODE_IP}', ${PORTS.raw}), go('${NODE_IP6}', ${PORTS.raw}), go('${injectorIp}', 9443)]).then((r) => console.log(r.join('\\n')))`)
    const lines = raw.stdout.trim().split('\n')
    t.match(lines[0], /^10\.244\.77\.1 "HTTP\/1\.1 400 /, `raw TCP to another port: toolgate's refusal, not the server (${lines[0]})`)
    t.match(lines[1], /^fd77:244:77::1 error ECONNREFUSED$/, `over IPv6: refused (${lines[1]})`)
    t.match(lines[2], new RegExp(`^${injectorIp.replaceAll('.', '\\.')} "HTTP/1\\.1 400 `), `to another address (a pod's TLS port): toolgate's refusal (${lines[2]})`)
    t.same(rawSeen, [], 'the raw server saw no connection')
    // ip6tables redirects IPv6 TCP to the transparent listeners' ports on ::1, where nothing
    // listens (they bind 127.0.0.1): refused, so IPv6 is blocked rather than decided.
    const v6 = await inPod(agent, 'agent', ['/usr/bin/curl', '-sS', '-g', '--noproxy', '*', '-w', '\\n%{http_code}', `http://[${NODE_IP6}]/v6`, `http://[${NODE_IP6}]:${PORTS.canary}/v6`])
    t.match(v6.stdout, /^(\n?000){2}$/, `IPv6 egress on port 80 and another port never connects (${JSON.stringify(v6.stdout)})`)
    t.match(v6.stderr, /Connection refused|Failed to connect/, v6.stderr)
    t.same(canarySeen, [], 'the IPv6 canary saw nothing')
  })

  t.test('the kubelet expands the pod\'s own JAVA_TOOL_OPTIONS (valueFrom) ahead of toolgate\'s; the trust files are there', async (t) => {
    const r = await nodeIn(agent, `const fs = require('node:fs')
console.log(JSON.stringify({ java: process.env.JAVA_TOOL_OPTIONS, files: fs.readdirSync('/var/run/toolgate/ca').filter((f) => !f.startsWith('.')).sort(),
  wgetrc: fs.readFileSync(process.env.WGETRC, 'utf8'), p12: fs.statSync('/var/run/toolgate/ca/truststore.p12').size, node: process.env.NODE_USE_ENV_PROXY }))`)
    const o = JSON.parse(r.stdout) as { java: string; files: string[]; wgetrc: string; p12: number; node: string }
    t.match(o.java, /^-Dapp\.from=configmap -Xss1m -Dhttp\.proxyHost=127\.0\.0\.1 -Dhttp\.proxyPort=15001 /, `the pod's options first (expanded by the kubelet from $(TOOLGATE_APP_JAVA_TOOL_OPTIONS)), then toolgate's: ${o.java}`)
    t.match(o.java, / -Djavax\.net\.ssl\.trustStore=\/var\/run\/toolgate\/ca\/truststore\.p12 -Djavax\.net\.ssl\.trustStoreType=PKCS12$/)
    t.same(o.files, ['ca.crt', 'truststore.p12', 'wgetrc'], 'the sidecar published the bundle, the truststore and the wgetrc into the shared volume')
    t.match(o.wgetrc, /^ca_certificate = \/var\/run\/toolgate\/ca\/ca\.crt$/m)
    t.ok(o.p12 > 1000, 'a truststore with the public roots')
    t.equal(o.node, '1', 'NODE_USE_ENV_PROXY')
  })

  t.test('the agent container has no service-account token and no credential Secret', async (t) => {
    const agentSpec = agent.spec.containers.find((c) => c.name === 'agent')!
    t.same((agentSpec.volumeMounts ?? []).map((m) => m.mountPath), ['/var/run/toolgate/ca'], 'only the CA is mounted')
    const look = await nodeIn(agent, `
const fs = require('node:fs'); const path = require('node:path'); const hits = []; let files = 0
const walk = (d, depth) => { if (depth > 6) return; let es = []; try { es = fs.readdirSync(d, { withFileTypes: true }) } catch { return }
  for (const e of es) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p, depth + 1); else if (e.isFile()) { files++
    try { const st = fs.statSync(p); if (st.size < 1 << 20 && fs.readFileSync(p).includes(${JSON.stringify(SECRET)})) hits.push(p) } catch {} } } }
for (const d of ['/var/run', '/run', '/etc', '/tmp', '/var/lib']) walk(d, 0)
console.log(JSON.stringify({ token: fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount'), creds: fs.existsSync('/etc/toolgate-credentials'),
  env: Object.values(process.env).some((v) => v.includes(${JSON.stringify(SECRET)})), hits, files }))`)
    const r = JSON.parse(look.stdout) as { token: boolean; creds: boolean; env: boolean; hits: string[]; files: number }
    t.equal(r.token, false, 'no service-account token')
    t.equal(r.creds, false, 'no credential Secret mount')
    t.equal(r.env, false, 'the secret is in no environment variable')
    t.same(r.hits, [], 'no file the agent can read holds the secret')
    t.ok(r.files > 0, 'the scan read files')
  })

  t.test('toolgate selftest in transparent mode: every path blocked, exit 0', async (t) => {
    const before = { canary: canarySeen.length, raw: rawSeen.length, udp: udpSeen.length, doh: dohSeen.length }
    const r = await timed('selftest (transparent)', () => inPod(agent, 'agent', ['/usr/local/bin/node', '/app/bin/toolgate.js', 'selftest', '--json',
      '--canary', `${NODE_IP}:${PORTS.canary}`, '--canary-v6', `[${NODE_IP6}]:${PORTS.canary}`, '--udp', `${NODE_IP}:443`,
      '--raw', `${NODE_IP}:${PORTS.raw}`, '--doh', `https://${NODE_IP}/dns-query`, '--control', 'http://127.0.0.1:15004/v1/tasks', '--timeout', '3000']))
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { probe?: string; verdict?: string; detail?: string })
    const v = Object.fromEntries(lines.filter((l) => l.probe).map((l) => [l.probe, l.verdict]))
    t.comment(r.stdout)
    for (const p of ['ipv4', 'ipv6', 'udp-443', 'raw-ip', 'doh']) t.equal(v[p], 'blocked', `${p} blocked`)
    t.same({ canary: canarySeen.length, raw: rawSeen.length, udp: udpSeen.length, doh: dohSeen.length }, before, 'and indeed no canary heard from the pod')
    // DoH by name: the TLS ClientHello carries SNI doh.test, which no allowlist entry names.
    const byName = await inPod(agent, 'agent', ['/usr/local/bin/node', '/app/bin/toolgate.js', 'selftest', '--json', '--skip', 'ipv4,ipv6,udp-443,raw-ip,control-api',
      '--doh', 'https://doh.test/dns-query', '--doh-address', NODE_IP, '--timeout', '3000'])
    t.match(byName.stdout, /"probe":"doh","target":"https:\/\/doh.test\/dns-query","verdict":"blocked"/, 'DoH with SNI to an unlisted host: blocked')
    t.equal(byName.code, 0)
    t.equal(dohSeen.length, before.doh, 'the resolver heard nothing')
    // The control API verdict against the truth: an unauthenticated task request from the agent.
    const truth = await nodeIn(agent, `fetch('http://127.0.0.1:15004/v1/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => console.log(r.status), (e) => console.log('error'))`)
    const status = truth.stdout.trim()
    t.equal(v['control-api'], ['401', '403', '404', '405', 'error'].includes(status) ? 'blocked' : 'open', `control-api verdict matches what an unauthenticated caller gets (${status})`)
    t.equal(v['control-api'], 'blocked', 'the control listener refuses an unauthenticated caller')
    t.equal(r.code, 0, 'selftest exits 0: every path out is blocked')
  })

  t.test('proxy mode: selftest reports the open paths honestly', async (t) => {
    const created = await api<LivePod>('POST', `/api/v1/namespaces/${NS}/pods`, agentPod('agent-proxy', { annotations: { 'toolgate.dev/mode': 'proxy' } }))
    t.same(created.spec.initContainers?.map((c) => c.name), ['toolgate'], 'proxy mode: no iptables init container')
    const p = await waitRunning('agent-proxy')
    const allowed = await inPod(p, 'agent', ['/usr/bin/curl', '-sS', '-w', '\\n%{http_code}', `http://${NODE_IP}/allowed/proxy-mode`])
    t.match(allowed.stdout, /"credential_ok":true[^]*\n200$/, 'proxy variables work')
    const before = { canary: canarySeen.length, raw: rawSeen.length, udp: udpSeen.length, doh: dohSeen.length }
    const r = await timed('selftest (proxy)', () => inPod(p, 'agent', ['/usr/local/bin/node', '/app/bin/toolgate.js', 'selftest', '--json',
      '--canary', `${NODE_IP}:${PORTS.canary}`, '--canary-v6', `[${NODE_IP6}]:${PORTS.canary}`, '--udp', `${NODE_IP}:443`,
      '--raw', `${NODE_IP}:${PORTS.raw}`, '--doh', `https://${NODE_IP}/dns-query`, '--skip', 'control-api', '--timeout', '3000']))
    t.comment(r.stdout)
    const v = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { probe?: string; verdict?: string }).filter((l) => l.probe).map((l) => [l.probe, l.verdict]))
    t.same(v, { 'ipv4': 'open', 'ipv6': 'open', 'udp-443': 'open', 'raw-ip': 'open', 'doh': 'open' }, 'every direct path is open without the redirect')
    t.equal(r.code, 1, 'and selftest exits non-zero')
    t.ok(canarySeen.length >= before.canary + 2 && rawSeen.length > before.raw && udpSeen.length > before.udp && dohSeen.length > before.doh, 'the canaries confirm it')
    await del(`/api/v1/namespaces/${NS}/pods/agent-proxy`)
  })

  t.test('a Job whose agent exits completes: the native sidecar stops with it', async (t) => {
    const job = agentPod('job-agent', { restartPolicy: 'Never', command: ['/usr/bin/curl', '-sS', '-f', `http://${NODE_IP}/allowed/job`] })
    await api('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job-agent' },
      spec: { backoffLimit: 0, template: { metadata: { labels: { app: 'job-agent' } }, spec: job.spec } },
    })
    const done = await timed('Job → Complete', () => waitFor('the Job to complete', async () => {
      const j = await api<{ status?: { conditions?: Array<{ type: string; status: string }>; succeeded?: number; failed?: number } }>('GET', `/apis/batch/v1/namespaces/${NS}/jobs/job-agent`)
      if ((j.status?.failed ?? 0) > 0) throw new Error(`Job failed: ${JSON.stringify(j.status)}\n${kcm!.logs().slice(-2000)}`)
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : null
    }, 120_000))
    t.equal(done.status?.succeeded, 1, 'the Job controller counted one successful pod')
    const pods = await api<{ items: LivePod[] }>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Djob-agent`)
    t.equal(pods.items.length, 1)
    const pod = pods.items[0]!
    t.ok(pod.spec.initContainers?.some((c) => c.name === 'toolgate' && c.restartPolicy === 'Always'), 'the Job\'s pod was injected with a native sidecar')
    t.equal(pod.status?.phase, 'Succeeded')
    t.equal(statusOf(pod, 'agent')?.state?.terminated?.exitCode, 0, 'the agent exited 0')
    t.ok(statusOf(pod, 'toolgate')?.state?.terminated, 'the sidecar was stopped after the agent')
    t.ok(upstreamSeen.some((s) => s.path === '/allowed/job' && s.headers.authorization === `Bearer ${SECRET}`), 'the Job\'s call went through the sidecar')
  })

  t.test('failurePolicy Fail: injector down refuses pod creation; back up, it succeeds', async (t) => {
    await del(`/api/v1/namespaces/${RELEASE_NS}/pods/injector-1?gracePeriodSeconds=0`)
    await waitFor('the injector pod to be gone', async () => (await getPod('injector-1', RELEASE_NS).then(() => false, () => true)) ? true : null, 60_000)
    const err = await waitFor('pod creation to be refused', async () => {
      const e = await api('POST', `/api/v1/namespaces/${NS}/pods`, agentPod('while-down')).then(() => null, (x: unknown) => x)
      if (e === null) throw new Error('a pod was created while the injector was down')
      return e
    }, 30_000)
    t.ok(err instanceof KubeApiError, 'create refused')
    t.match((err as Error).message, /failed calling webhook/)
    await t.rejects(getPod('while-down'), 'no pod stored')
    await timed('injector pod restart → Ready + endpoint', () => startInjectorPod('injector-2'))
    const created = await api<LivePod>('POST', `/api/v1/namespaces/${NS}/pods`, agentPod('after-up'))
    t.ok(created.spec.initContainers?.some((c) => c.name === 'toolgate'), 'created and injected once the injector is back')
    await waitRunning('after-up')
  })

  t.test('deleting the pod stops the sidecar within its drain bound', async (t) => {
    const p = await getPod('after-up')
    const sidecarId = containerIdOf(p, 'toolgate')
    const t0 = Date.now()
    await del(`/api/v1/namespaces/${NS}/pods/after-up`)
    await waitFor('sidecar task to exit', async () => (node!.ctr(['tasks', 'ls']).stdout.split('\n').some((l) => l.startsWith(sidecarId) && /RUNNING/.test(l)) ? null : true), 40_000)
    const took = Date.now() - t0
    timings['pod delete → sidecar exited'] = took
    // toolgate drains for at most timeouts.shutdown_ms (10 s by default) after SIGTERM; the pod's
    // grace period is 30 s, after which the kubelet would SIGKILL.
    t.ok(took < 15_000, `the sidecar exited ${took} ms after the delete (drain bound 10 s, grace 30 s)`)
    const text = containerLog('after-up', 'toolgate')
    t.match(text, /shutting down/, 'the sidecar logged its drain (SIGTERM, not SIGKILL)')
    t.notOk(text.includes(SECRET), 'the secret is not in the sidecar\'s log')
  })

  t.test('teardown leaves nothing behind', async (t) => {
    await kcm?.stop()
    const t0 = Date.now()
    await node!.stop()
    timings['node teardown'] = Date.now() - t0
    t.same(node!.leftovers(), [], 'no bridge, cgroup, process, mount, netns, iptables chain, sysctl change or state folder left')
  })
}
