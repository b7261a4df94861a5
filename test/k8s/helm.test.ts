// The Helm chart: `helm lint --strict` and `helm template` over a matrix of values, with
// assertions on the rendered objects; values.schema.json rejections; the rendered sidecar config
// passes `toolgate check`. Helm is the real binary built by scripts/prepare-helm.js.
import t from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { repoRoot } from '../helpers/tools.ts'
import { defaultSettings, resolveSettings, SIDECAR_RUNTIME } from '../../proxy/src/inject/settings.ts'
import { trustFilePaths } from '../../proxy/src/inject/agent-env.ts'

const exec = promisify(execFile)
const helm = join(repoRoot, '.cache/bin/helm')
const chart = join(repoRoot, 'charts/toolgate')
const KUBE = '1.37.0'

if (!existsSync(helm)) {
  if (process.env['CI']) throw new Error(`${helm} missing: run node scripts/prepare-helm.js`)
  t.plan(0, `helm not built (${helm}); run node scripts/prepare-helm.js`)
} else {
  type Obj = { kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: unknown }

  async function render(values: Record<string, unknown>, ns = 'toolgate-system'): Promise<Obj[]> {
    const dir = mkdtempSync(join(tmpdir(), 'tg-helm-'))
    const file = join(dir, 'values.json')
    writeFileSync(file, JSON.stringify(values))
    const { stdout } = await exec(helm, ['template', 'tg', chart, '-n', ns, '--kube-version', KUBE, '-f', file], { maxBuffer: 32 << 20 })
    return parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter((o) => o)
  }
  const find = (objs: Obj[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  const settingsOf = (objs: Obj[]) => {
    const cm = find(objs, 'ConfigMap', 'tg-toolgate-injector-settings')[0] as unknown as { data: Record<string, string> }
    return resolveSettings(parseYaml(cm.data['settings.yaml']!), 'rendered settings') // validates against the injector's own schema
  }
  type Webhook = { name: string; failurePolicy: string; clientConfig: { caBundle?: string; service: { path: string } }; namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> }; objectSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> } }
  const webhooksOf = (objs: Obj[]) => (find(objs, 'MutatingWebhookConfiguration')[0] as unknown as { webhooks: Webhook[] }).webhooks

  t.test('helm lint --strict over the values matrix', async (t) => {
    const matrix: Array<[string, string[]]> = [
      ['defaults', []],
      ['classic sidecar, proxy mode', ['--set', 'injection.nativeSidecar=false', '--set', 'injection.mode=proxy']],
      ['cert-manager', ['--set', 'certificate.mode=certManager']],
      ['self-managed', ['--set', 'certificate.mode=selfManaged']],
      ['monitoring', ['--set', 'metrics.podMonitor.enabled=true', '--set', 'metrics.dashboard.enabled=true', '--set', 'agentNamespaces={a,b}']],
      ['network policy, trust', ['--set', 'metrics.networkPolicy.enabled=true', '--set', 'agentNamespaces={a}', '--set', 'sidecarConfig.tasks.audience=toolgate://x', '--set', 'sidecarConfig.approvals.audience=y']],
    ]
    for (const [label, args] of matrix) {
      const r = await exec(helm, ['lint', '--strict', chart, '--kube-version', KUBE, ...args])
      t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, label)
    }
  })

  t.test('defaults: native sidecar, transparent, chart certificate, Fail', async (t) => {
    const objs = await render({ agentNamespaces: ['agents'] })
    const s = settingsOf(objs)
    t.equal(s.nativeSidecar, true)
    t.equal(s.mode, 'transparent')
    t.same(s.runtime, SIDECAR_RUNTIME, 'the chart ships the same sidecar memory settings the benchmarks measure')
    t.ok(s.skipNamespaces.includes('toolgate-system') && s.skipNamespaces.includes('kube-system'), 'own and system namespaces skipped')
    const hooks = webhooksOf(objs)
    t.same(hooks.map((h) => h.clientConfig.service.path), ['/inject/namespace', '/inject/pod'])
    for (const h of hooks) {
      t.equal(h.failurePolicy, 'Fail')
      const nsSel = h.namespaceSelector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name')!
      t.same(nsSel, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'toolgate-system'] })
      t.ok(h.objectSelector.matchExpressions.some((e) => e.key === 'toolgate.dev/component' && e.operator === 'NotIn'), 'own pods excluded')
    }
    const secret = find(objs, 'Secret', 'tg-toolgate-injector-tls')[0] as unknown as { data: Record<string, string> }
    t.equal(hooks[0]!.clientConfig.caBundle, secret.data['ca.crt'], 'caBundle is the CA that signed the Secret')
    const { X509Certificate } = await import('node:crypto')
    const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'))
    t.ok(leaf.checkIssued(new X509Certificate(Buffer.from(secret.data['ca.crt']!, 'base64'))))
    t.match(leaf.subjectAltName, /DNS:tg-toolgate-injector\.toolgate-system\.svc/)
    const dep = find(objs, 'Deployment')[0] as unknown as { spec: { replicas: number; template: { spec: Record<string, any> } } }
    t.equal(dep.spec.replicas, 2)
    const pod = dep.spec.template.spec
    t.equal(pod['automountServiceAccountToken'], false, 'injector needs no API token with a chart certificate')
    t.ok(pod['affinity'].podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution)
    const c = pod['containers'][0]
    t.match(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } })
    t.equal(c.readinessProbe.httpGet.path, '/readyz')
    t.equal(find(objs, 'PodDisruptionBudget').length, 1)
    t.equal(find(objs, 'Role').length, 0, 'no RBAC beyond the ServiceAccount')
    t.equal(find(objs, 'ConfigMap', 'toolgate-config')[0]!.metadata.namespace, 'agents')
  })

  t.test('classic sidecar and proxy mode', async (t) => {
    const s = settingsOf(await render({ injection: { nativeSidecar: false, mode: 'proxy' } }))
    t.equal(s.nativeSidecar, false)
    t.equal(s.mode, 'proxy')
  })

  t.test('cert-manager', async (t) => {
    const objs = await render({ certificate: { mode: 'certManager' } })
    const mwc = find(objs, 'MutatingWebhookConfiguration')[0]!
    t.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'toolgate-system/tg-toolgate-injector')
    for (const h of webhooksOf(objs)) t.equal(h.clientConfig.caBundle, undefined, 'caBundle left to cainjector')
    t.equal(find(objs, 'Certificate').length, 1)
    t.equal(find(objs, 'Issuer').length, 1)
    t.equal(find(objs, 'Secret').length, 0, 'cert-manager writes the Secret')
    const withIssuer = await render({ certificate: { mode: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } })
    t.equal(find(withIssuer, 'Issuer').length, 0)
    t.match(find(withIssuer, 'Certificate')[0], { spec: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } })
  })

  t.test('self-managed certificate: minimal RBAC and injector flags', async (t) => {
    const objs = await render({ certificate: { mode: 'selfManaged' } })
    const role = find(objs, 'Role')[0] as unknown as { rules: Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }> }
    t.same(role.rules[0], { apiGroups: [''], resources: ['secrets'], resourceNames: ['tg-toolgate-injector-tls'], verbs: ['get', 'update'] })
    const cr = find(objs, 'ClusterRole')[0] as unknown as { rules: Array<{ resourceNames: string[]; verbs: string[] }> }
    t.same(cr.rules[0]!.resourceNames, ['tg-toolgate-toolgate-system'])
    t.same(cr.rules[0]!.verbs, ['get', 'update'])
    for (const h of webhooksOf(objs)) t.equal(h.clientConfig.caBundle, undefined, 'caBundle owned by the injector, not by helm')
    const args = (find(objs, 'Deployment')[0] as any).spec.template.spec.containers[0].args as string[]
    t.ok(args.includes('--self-managed-cert') && args.includes('--webhook-config=tg-toolgate-toolgate-system'))
  })

  t.test('user-supplied Secret', async (t) => {
    const objs = await render({ certificate: { mode: 'secret', secretName: 'my-tls', caBundle: 'Q0E=' } })
    t.equal(webhooksOf(objs)[0]!.clientConfig.caBundle, 'Q0E=')
    const vols = (find(objs, 'Deployment')[0] as any).spec.template.spec.volumes as Array<{ name: string; secret?: { secretName: string } }>
    t.equal(vols.find((v) => v.name === 'tls')!.secret!.secretName, 'my-tls')
  })

  t.test('custom allowlist renders a config toolgate check accepts', async (t) => {
    const tools = [{ name: 'internal-api', match: { scheme: 'https', host: 'api.internal.example' }, routes: [{ methods: ['GET'], path: '/v1/**' }] }]
    const objs = await render({ agentNamespaces: ['team-a', 'team-b'], sidecarConfig: { tools, mode: 'report' }, webhook: { failurePolicy: 'Ignore' } })
    const cms = find(objs, 'ConfigMap', 'toolgate-config')
    t.same(cms.map((c) => c.metadata.namespace), ['team-a', 'team-b'])
    const text = (cms[0] as unknown as { data: Record<string, string> }).data['toolgate.yaml']!
    const cfg = parseYaml(text) as { tools: unknown; mode: string; listeners: Record<string, { port: number }> }
    t.same(cfg.tools, tools)
    t.equal(cfg.mode, 'report')
    t.equal(cfg.listeners['transparent_tls']!.port, 15003, 'transparent listeners match the iptables ports')
    const files = trustFilePaths(defaultSettings())
    t.same((parseYaml(text) as { tls: { ca: unknown } }).tls.ca, { publish_cert_to: files.bundle, publish_truststore_to: files.truststore, publish_wgetrc_to: files.wgetrc },
      'the sidecar publishes the trust files where the injector points the agent variables')
    for (const h of webhooksOf(objs)) t.equal(h.failurePolicy, 'Ignore')
    // toolgate check with the CA publish dir pointed at a temp dir (it does not exist outside a pod).
    const dir = mkdtempSync(join(tmpdir(), 'tg-cfg-'))
    writeFileSync(join(dir, 'toolgate.yaml'), text.replaceAll('/var/run/toolgate/ca/', `${dir}/`))
    const r = await exec(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'check', '--config', join(dir, 'toolgate.yaml')]).catch((e: { stdout: string; stderr: string; code: number }) => e)
    t.equal((r as { code?: number }).code ?? 0, 0, `toolgate check accepts the rendered config: ${(r as { stderr: string }).stderr}`)
  })

  t.test('trust: task issuers, approvers, control listener, metrics address and NetworkPolicy', async (t) => {
    const tasks = { audience: 'toolgate://prod.example', issuers: [{ name: 'orchestrator', issuer: 'https://orch.example', jwks_url: 'https://orch.example/jwks.json', max_tasks: 50 }] }
    const approvals = { audience: 'toolgate-approvals', approvers: [{ name: 'corp', issuer: 'https://login.example', jwks_url: 'https://login.example/jwks', claims: { groups: 'toolgate-approvers' } }] }
    const scrapers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]
    const objs = await render({ agentNamespaces: ['agents'], sidecarConfig: { adminHost: '0.0.0.0', tasks, approvals }, metrics: { podMonitor: { enabled: true }, networkPolicy: { enabled: true, scrapers } } })
    const text = (find(objs, 'ConfigMap', 'toolgate-config')[0] as unknown as { data: Record<string, string> }).data['toolgate.yaml']!
    const cfg = parseYaml(text) as { tasks: unknown; approvals: unknown; listeners: Record<string, { host: string; port: number }> }
    t.same(cfg.tasks, tasks)
    t.same(cfg.approvals, approvals)
    t.same(cfg.listeners['admin'], { host: '0.0.0.0', port: 15000 }, 'the metrics address is the read-only admin listener')
    t.same(cfg.listeners['control'], { host: '127.0.0.1', port: 15004 }, 'the control listener stays on loopback by default')
    const np = find(objs, 'NetworkPolicy') as unknown as Array<{ metadata: { namespace: string }; spec: { ingress: Array<{ ports: Array<{ port: number }>; from?: unknown[] }> } }>
    t.equal(np.length, 1)
    t.equal(np[0]!.metadata.namespace, 'agents')
    const ports = np[0]!.spec.ingress.map((r) => r.ports.map((p) => p.port)).flat()
    t.same(ports.sort(), [15000, 15021], 'metrics and health only: never the control port')
    t.same(np[0]!.spec.ingress.find((r) => r.ports[0]!.port === 15000)!.from, scrapers, 'metrics only from the scrapers')
    const noScrapers = find(await render({ agentNamespaces: ['agents'], metrics: { networkPolicy: { enabled: true } } }), 'NetworkPolicy') as unknown as Array<{ spec: { ingress: Array<{ ports: Array<{ port: number }> }> } }>
    t.notOk(noScrapers[0]!.spec.ingress.some((r) => r.ports[0]!.port === 15000), 'no scrapers: no metrics rule (an empty from would admit everyone)')
    t.equal(find(await render({ agentNamespaces: ['agents'] }), 'NetworkPolicy').length, 0, 'off by default')
    const dir = mkdtempSync(join(tmpdir(), 'tg-cfg-'))
    writeFileSync(join(dir, 'toolgate.yaml'), text.replaceAll('/var/run/toolgate/ca/', `${dir}/`))
    const r = await exec(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'check', '--config', join(dir, 'toolgate.yaml')]).catch((e: { stdout: string; stderr: string; code: number }) => e)
    t.equal((r as { code?: number }).code ?? 0, 0, `toolgate check accepts the rendered trust config: ${(r as { stderr: string }).stderr}`)
  })

  t.test('annotation opt-in widens the pod webhook; disabled entries vanish', async (t) => {
    const objs = await render({ injection: { podSelector: { annotationOptIn: true }, namespaceSelector: { enabled: false } } })
    const hooks = webhooksOf(objs)
    t.same(hooks.map((h) => h.name), ['pod.inject.toolgate.dev'])
    t.same(hooks[0]!.objectSelector.matchExpressions[0], { key: 'toolgate.dev/inject', operator: 'NotIn', values: ['false'] })
    t.equal(settingsOf(objs).optIn.annotation, true)
  })

  t.test('monitoring: PodMonitor and dashboard', async (t) => {
    const objs = await render({ metrics: { podMonitor: { enabled: true }, dashboard: { enabled: true } } })
    t.equal(find(objs, 'PodMonitor').length, 1)
    const dash = find(objs, 'ConfigMap', 'tg-toolgate-dashboard')[0] as unknown as { data: Record<string, string> }
    const json = JSON.parse(dash.data['toolgate.json']!) as { panels: Array<{ targets: Array<{ expr: string }> }> }
    const exprs = json.panels.flatMap((p) => p.targets.map((x) => x.expr)).join('\n')
    for (const m of ['toolgate_requests_total', 'toolgate_decision_duration_seconds_bucket', 'toolgate_upstream_duration_seconds_bucket', 'toolgate_config_reloads_total', 'toolgate_open_connections', 'toolgate_memory_bytes', 'toolgate_live_objects', 'toolgate_policy_wasm_memory_bytes']) {
      t.ok(exprs.includes(m), `dashboard uses ${m}`)
    }
    const none = await render({})
    t.equal(find(none, 'PodMonitor').length + find(none, 'ConfigMap', 'tg-toolgate-dashboard').length, 0, 'off by default')
  })

  t.test('policy bundle from files/ becomes a binary ConfigMap the sidecar is pointed at', async (t) => {
    // A copy of the chart, because files/policy-bundle.tar.gz is placed there at package time.
    const copy = join(mkdtempSync(join(tmpdir(), 'tg-chart-')), 'toolgate')
    cpSync(chart, copy, { recursive: true })
    const bundle = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x10, 0x80])
    writeFileSync(join(copy, 'files/policy-bundle.tar.gz'), bundle)
    const { stdout } = await exec(helm, ['template', 'tg', copy, '-n', 'toolgate-system', '--kube-version', KUBE, '--set', 'agentNamespaces={agents}'])
    const objs = parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter((o) => o)
    const cm = find(objs, 'ConfigMap', 'toolgate-policy')[0] as unknown as { metadata: { namespace: string }; binaryData: Record<string, string> }
    t.equal(cm.metadata.namespace, 'agents')
    t.same(Buffer.from(cm.binaryData['bundle.tar.gz']!, 'base64'), bundle, 'bytes survive')
    t.equal(settingsOf(objs).policyBundle.configMap, 'toolgate-policy', 'injector mounts it')
    const cfg = parseYaml((find(objs, 'ConfigMap', 'toolgate-config')[0] as unknown as { data: Record<string, string> }).data['toolgate.yaml']!) as { policy?: { bundle: string } }
    t.equal(cfg.policy?.bundle, '/etc/toolgate-policy/bundle.tar.gz')
    const without = await render({ agentNamespaces: ['agents'] })
    t.equal(find(without, 'ConfigMap', 'toolgate-policy').length, 0, 'no file: no ConfigMap, embedded bundle')
    t.equal(settingsOf(without).policyBundle.configMap, '')
  })

  t.test('values.schema.json rejects bad values clearly', async (t) => {
    const bad: Array<[string[], RegExp]> = [
      [['--set', 'injection.mode=sometimes'], /mode.*must be one of|value must be one of/i],
      [['--set', 'webhook.failurePolicy=Maybe'], /failurePolicy/],
      [['--set', 'injection.token.expirationSeconds=60'], /expirationSeconds/],
      [['--set', 'injection.resources.requests.cpu=lots'], /cpu/],
      [['--set', 'certificate.mode=secret'], /secretName|caBundle/],
      [['--set', 'injection.nativeSidecars=true'], /nativeSidecars/],
      [['--set', 'agentNamespaces={Bad_NS}'], /agentNamespaces/],
    ]
    for (const [args, msg] of bad) {
      const r = await exec(helm, ['template', 'tg', chart, '--kube-version', KUBE, ...args]).then(() => null, (e: { stderr: string }) => e)
      t.ok(r, `${args[1]} rejected`)
      t.match(r?.stderr ?? '', msg, `${args[1]}: message names the field`)
    }
  })
}
