// A real control plane for tests: etcd + kube-apiserver on loopback, with self-generated
// certificates (@peculiar/x509 via the injector's serving-cert module) and a static admin token
// (group system:masters). No kubelet, scheduler or controller-manager: objects are stored and
// admitted exactly as in a cluster, but no pod ever runs (they stay Pending), and controllers'
// work (e.g. creating the `default` ServiceAccount) is done by the test.
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeClient } from '../../proxy/src/inject/kube-client.ts'
import { generateCa, issueServingCert } from '../../proxy/src/inject/serving-cert.ts'

export interface Cluster {
  server: string
  token: string
  caPem: string
  dir: string
  kubeconfig: string
  client: KubeClient
  logs: () => string
  stop(): Promise<void>
}

/** A free loopback port (etcd needs explicit ports; the tiny race with other tests is accepted). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

function start(bin: string, args: string[], log: string[]): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (b: Buffer) => {
    log.push(b.toString())
    if (log.length > 400) log.splice(0, log.length - 400) // bounded
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  return child
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  c.kill('SIGTERM')
  const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** extraArgs: more kube-apiserver flags (the live-node test adds --enable-aggregator-routing). */
export async function startCluster(etcdBin: string, apiserverBin: string, timeoutMs = 90_000, extraArgs: string[] = []): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-kube-'))
  const log: string[] = []
  const ca = await generateCa('toolgate test cluster CA', 1)
  const serving = await issueServingCert(ca, ['localhost', 'kubernetes.default.svc'], ['127.0.0.1'], 1)
  writeFileSync(join(dir, 'ca.crt'), ca.certPem)
  writeFileSync(join(dir, 'apiserver.crt'), serving.certPem)
  writeFileSync(join(dir, 'apiserver.key'), serving.keyPem, { mode: 0o600 })
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }))
  const token = randomBytes(24).toString('hex')
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 })

  const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()]
  mkdirSync(join(dir, 'etcd'), { mode: 0o700 })
  const etcd = start(etcdBin, [
    '--name=test', `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${clientPort}`, `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=test=http://127.0.0.1:${peerPort}`, '--unsafe-no-fsync', '--log-level=warn',
  ], log)
  const apiserver = start(apiserverBin, [
    `--etcd-servers=http://127.0.0.1:${clientPort}`,
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
    `--tls-cert-file=${join(dir, 'apiserver.crt')}`, `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--service-cluster-ip-range=10.96.0.0/24',
    '--endpoint-reconciler-type=none', '--enable-priority-and-fairness=false', '--v=1', ...extraArgs,
  ], log)
  const server = `https://127.0.0.1:${apiPort}`
  const client = new KubeClient({ server, token, caPem: ca.certPem, timeoutMs: 10_000 })
  const stop = async () => {
    await client.close()
    await stopChild(apiserver)
    await stopChild(etcd)
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (apiserver.exitCode !== null || etcd.exitCode !== null) {
      const out = log.join('').slice(-3000)
      await stop()
      throw new Error(`control plane exited during start:\n${out}`)
    }
    try {
      // The system namespaces exist once the apiserver's bootstrap controllers have run.
      await client.call('GET', '/api/v1/namespaces/kube-system')
      await client.call('GET', '/api/v1/namespaces/default')
      break
    } catch {
      if (Date.now() > deadline) {
        const out = log.join('').slice(-3000)
        await stop()
        throw new Error(`kube-apiserver not ready after ${timeoutMs} ms:\n${out}`)
      }
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: test',
    'clusters:', `- name: test`, '  cluster:', `    server: ${server}`, `    certificate-authority-data: ${Buffer.from(ca.certPem).toString('base64')}`,
    'users:', '- name: admin', '  user:', `    token: ${token}`,
    'contexts:', '- name: test', '  context: { cluster: test, user: admin }', '',
  ].join('\n'), { mode: 0o600 })
  return { server, token, caPem: ca.certPem, dir, kubeconfig, client, logs: () => log.join(''), stop }
}
