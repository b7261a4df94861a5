// Unit tests of mutatePod / injectionVerdict: every injection rule, on plain pod objects.
// (The same rules run against a real API server in apiserver.test.ts.)
import t from 'tap'
import fc from 'fast-check'
import { ANNOTATION } from '../../proxy/src/inject/annotations.ts'
import { InjectionError, injectionVerdict, mutatePod, type NamespaceInfo } from '../../proxy/src/inject/mutate.ts'
import type { Container, EnvVar, JsonPatchOp, Pod } from '../../proxy/src/inject/pod.ts'
import { APP_JAVA_TOOL_OPTIONS, JAVA_OPTION_VARIABLES, appJavaOptionsName, javaNonProxyHosts, javaToolOptions } from '../../proxy/src/inject/agent-env.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { defaultSettings, resolveSettings, type InjectorSettings } from '../../proxy/src/inject/settings.ts'

const optedNs: NamespaceInfo = { name: 'agents', labels: { 'toolgate.dev/injection': 'enabled' } }
const plainNs: NamespaceInfo = { name: 'agents' }

function basePod(extra: Partial<Pod['spec']> = {}, meta: Pod['metadata'] = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'agent', labels: { app: 'agent' }, annotations: { keep: 'me' }, ...meta },
    spec: {
      serviceAccountName: 'agent-sa',
      containers: [
        {
          name: 'agent',
          image: 'agent:1',
          env: [{ name: 'KEEP', value: '1' }, { name: 'HTTP_PROXY', value: 'http://evil:3128' }],
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'data', emptyDir: {} },
        {
          name: 'kube-api-access-abcde',
          projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }] },
        },
      ],
      nodeSelector: { pool: 'agents' },
      ...extra,
    },
  }
}

/** Applies our patch (only whole-field add/replace on existing parents) to a copy of the pod. */
function apply(pod: Pod, ops: JsonPatchOp[]): Pod {
  const out = structuredClone(pod) as unknown as Record<string, Record<string, unknown>>
  for (const op of ops) {
    const [, parent, key] = op.path.split('/') as [string, string, string | undefined]
    if (op.op === 'remove') throw new Error('unexpected remove')
    if (key === undefined) out[parent] = op.value as Record<string, unknown>
    else {
      const k = key.replaceAll('~1', '/').replaceAll('~0', '~')
      if (op.op === 'replace' && !(k in out[parent]!)) throw new Error(`replace of missing ${op.path}`)
      if (op.op === 'add' && k in out[parent]!) throw new Error(`add over existing ${op.path}`)
      out[parent]![k] = op.value
    }
  }
  return out as unknown as Pod
}

function inject(pod: Pod, ns = optedNs, s: InjectorSettings = defaultSettings()): Pod {
  const ops = mutatePod(pod, ns, s)
  if (ops === null) throw new Error('expected injection')
  return apply(pod, ops)
}

const byName = (cs: Container[] | undefined, n: string) => (cs ?? []).find((c) => c.name === n)
const envOf = (c: Container | undefined) => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]))

t.test('opt-in and opt-out rules', async (t) => {
  const s = defaultSettings()
  t.equal(mutatePod(basePod(), plainNs, s), null, 'not opted in: untouched')
  t.ok(mutatePod(basePod(), optedNs, s), 'namespace label opts in')
  t.ok(mutatePod(basePod({}, { labels: { 'toolgate.dev/inject': 'true' } }), plainNs, s), 'pod label opts in')
  t.equal(mutatePod(basePod({}, { annotations: { 'toolgate.dev/inject': 'true' } }), plainNs, s), null, 'annotation opt-in is off by default')
  const withAnn = resolveSettings({ optIn: { annotation: true } })
  t.ok(mutatePod(basePod({}, { annotations: { 'toolgate.dev/inject': 'true' } }), plainNs, withAnn), 'annotation opt-in when enabled')
  t.equal(mutatePod(basePod({}, { annotations: { 'toolgate.dev/inject': 'false' } }), optedNs, s), null, 'annotation opts out of a namespace opt-in')
  t.equal(mutatePod(basePod({}, { labels: { 'toolgate.dev/inject': 'false' } }), optedNs, s), null, 'label opts out')
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease']) {
    t.equal(mutatePod(basePod({}, { labels: { 'toolgate.dev/inject': 'true' } }), { name: ns, labels: optedNs.labels! }, s), null, `${ns} skipped`)
  }
  t.equal(mutatePod(basePod({}, { labels: { 'toolgate.dev/component': 'injector', 'toolgate.dev/inject': 'true' } }), optedNs, s), null, 'own pods skipped')
  t.equal(mutatePod(basePod({ hostNetwork: true }), optedNs, s), null, 'hostNetwork skipped')
  t.match(injectionVerdict(basePod(), plainNs, s).reason, /not opted in/)
})

t.test('idempotent: an injected pod is left alone', async (t) => {
  const once = inject(basePod())
  t.ok(once.metadata?.annotations?.[ANNOTATION.status], 'status annotation set')
  t.equal(mutatePod(once, optedNs, defaultSettings()), null, 'second pass: no patch')
  t.equal(JSON.parse(once.metadata!.annotations![ANNOTATION.status]!).mode, 'transparent')
})

t.test('native sidecar, transparent mode (defaults)', async (t) => {
  const pod = inject(basePod({ initContainers: [{ name: 'setup', image: 'setup:1' }] }))
  const names = pod.spec.initContainers!.map((c) => c.name)
  t.same(names, ['toolgate-init', 'toolgate', 'setup'], 'iptables first, then the sidecar, then the pod\'s own init containers')
  const side = byName(pod.spec.initContainers, 'toolgate')!
  t.equal(side.restartPolicy, 'Always', 'native sidecar')
  t.same(pod.spec.containers.map((c) => c.name), ['agent'], 'no extra regular container')
  const ipt = byName(pod.spec.initContainers, 'toolgate-init')!
  t.same(ipt['args'], ['iptables', 'install', '--proxy-uid', '15337', '--http-port', '15002', '--tls-port', '15003', '--redirect-all', '15002'])
  t.same(ipt['env'], [{ name: 'XTABLES_LOCKFILE', value: '/dev/shm/xtables.lock' }], 'iptables\' lock file off the read-only root filesystem')
  const ex = inject(basePod(), optedNs, resolveSettings({ transparent: { excludeCidrs: ['10.0.0.0/8'], excludePorts: [5432], redirectAll: false } }))
  t.same((byName(ex.spec.initContainers, 'toolgate-init')!['args'] as string[]).slice(8), ['--exclude-cidrs', '10.0.0.0/8', '--exclude-ports', '5432'])
  t.match(ipt['securityContext'], { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] }, allowPrivilegeEscalation: false })
  t.match(side['securityContext'], { runAsUser: 15337, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } })
  const probe = side['readinessProbe'] as { httpGet: { path: string; port: number } }
  t.same(probe.httpGet, { path: '/readyz', port: 15021, scheme: 'HTTP' }, 'readiness by httpGet on the health listener')
  t.same((side['livenessProbe'] as { httpGet: unknown }).httpGet, { path: '/healthz', port: 15021, scheme: 'HTTP' })
  t.same((side['args'] as string[]).slice(-2), ['--health', '0.0.0.0:15021'], 'the sidecar is told to serve the health listener there')
  t.ok(side['livenessProbe'] && side['startupProbe'], 'liveness and startup probes')
  t.same(side.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } })
  const setup = byName(pod.spec.initContainers, 'setup')!
  t.equal(envOf(setup)['HTTPS_PROXY'], 'http://127.0.0.1:15001', 'agent init containers are proxied too')
})

t.test('classic sidecar, proxy mode', async (t) => {
  const s = resolveSettings({ nativeSidecar: false, mode: 'proxy' })
  const pod = inject(basePod(), optedNs, s)
  t.same(pod.spec.containers.map((c) => c.name), ['toolgate', 'agent'], 'sidecar first among containers')
  t.equal(byName(pod.spec.containers, 'toolgate')!.restartPolicy, undefined)
  t.equal(pod.spec.initContainers, undefined, 'no init containers added in proxy mode')
})

t.test('per-pod mode annotation overrides the default', async (t) => {
  const pod = inject(basePod({}, { annotations: { [ANNOTATION.mode]: 'proxy' } }))
  t.same(pod.spec.initContainers!.map((c) => c.name), ['toolgate'], 'no iptables init in proxy mode')
  const t2 = inject(basePod({}, { annotations: { [ANNOTATION.mode]: 'transparent' } }), optedNs, resolveSettings({ mode: 'proxy' }))
  t.ok(byName(t2.spec.initContainers, 'toolgate-init'), 'transparent by annotation')
  t.throws(() => mutatePod(basePod({}, { annotations: { [ANNOTATION.mode]: 'sneaky' } }), optedNs, defaultSettings()), InjectionError)
})

t.test('agent containers: proxy env, CA, no token, no secrets', async (t) => {
  const s = resolveSettings({ credentials: { secrets: ['github-token'] }, noProxy: ['.svc.cluster.local'] })
  const input = basePod()
  input.spec.volumes!.push({ name: 'gh', secret: { secretName: 'github-token' } })
  input.spec.containers[0]!.volumeMounts!.push({ name: 'gh', mountPath: '/gh' })
  input.spec.containers[0]!.env!.push({ name: 'GH', valueFrom: { secretKeyRef: { name: 'github-token', key: 'token' } } })
  input.spec.containers[0]!.env!.push({ name: 'OTHER', valueFrom: { secretKeyRef: { name: 'unrelated', key: 'k' } } })
  input.spec.containers[0]!['envFrom'] = [{ secretRef: { name: 'github-token' } }, { configMapRef: { name: 'settings' } }]
  const pod = inject(input, optedNs, s)
  const agent = byName(pod.spec.containers, 'agent')!
  const env = envOf(agent)
  t.equal(env['HTTP_PROXY'], 'http://127.0.0.1:15001', 'agent HTTP_PROXY replaced, not duplicated')
  t.equal(agent.env!.filter((e) => e.name === 'HTTP_PROXY').length, 1)
  t.equal(env['KEEP'], '1', 'own env kept')
  t.notOk('GH' in env, 'env from a credential Secret removed')
  t.ok('OTHER' in env, 'env from other Secrets kept (not toolgate\'s to judge)')
  t.same(agent['envFrom'], [{ configMapRef: { name: 'settings' } }], 'envFrom a credential Secret removed')
  t.equal(env['NO_PROXY'], 'localhost,127.0.0.1,::1,.svc.cluster.local')
  for (const k of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'GIT_SSL_CAINFO', 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH']) t.equal(env[k], '/var/run/toolgate/ca/ca.crt', k)
  t.equal(env['NODE_USE_ENV_PROXY'], '1', 'Node 24 reads the proxy variables only with NODE_USE_ENV_PROXY')
  t.equal(env['WGETRC'], '/var/run/toolgate/ca/wgetrc')
  t.equal(env['JAVA_TOOL_OPTIONS'], '-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=15001 -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=15001 '
    + '-Dhttp.nonProxyHosts=localhost|*.localhost|127.0.0.1|[::1]|*.svc.cluster.local '
    + '-Djavax.net.ssl.trustStore=/var/run/toolgate/ca/truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12', 'Java: proxy, exceptions and truststore as system properties')
  const mounts = agent.volumeMounts!.map((m) => m.name)
  t.same(mounts, ['data', 'toolgate-ca'], 'token and secret mounts removed, CA added')
  t.equal(agent.volumeMounts!.find((m) => m.name === 'toolgate-ca')!.readOnly, true, 'CA read-only for the agent')
  t.equal(pod.spec.automountServiceAccountToken, false)
  t.notOk(pod.spec.volumes!.some((v) => v.name.startsWith('kube-api-access')), 'token volume removed')
  // The sidecar has the token (own audience), config, credential secret.
  const side = byName(pod.spec.initContainers, 'toolgate')!
  t.same(side.volumeMounts!.map((m) => m.name).sort(), ['toolgate-ca', 'toolgate-config', 'toolgate-cred-github-token', 'toolgate-tmp', 'toolgate-token'])
  const tok = pod.spec.volumes!.find((v) => v.name === 'toolgate-token')!
  t.same(tok.projected!.sources, [{ serviceAccountToken: { audience: 'toolgate', expirationSeconds: 600, path: 'token' } }])
  t.same(envOf(side)['HTTP_PROXY'], undefined, 'sidecar itself is not proxied')
  t.same(side.env!.map((e) => e.name), ['POD_NAMESPACE', 'POD_NAME', 'SERVICE_ACCOUNT', 'TOOLGATE_INTERCEPTION', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX'])
  t.equal(envOf(side)['NODE_OPTIONS'], '--max-old-space-size=128 --max-semi-space-size=4', 'bounded heap by default')
  t.equal(envOf(side)['MALLOC_ARENA_MAX'], '2')
})

t.test('sidecar runtime settings: overridden, or left to Node and glibc', async (t) => {
  const tuned = inject(basePod(), optedNs, resolveSettings({ runtime: { nodeOptions: '--max-old-space-size=256' } }))
  const side = byName(tuned.spec.initContainers, 'toolgate')!
  t.equal(envOf(side)['NODE_OPTIONS'], '--max-old-space-size=256')
  t.equal(envOf(side)['MALLOC_ARENA_MAX'], '2', 'the other field keeps its default')
  const plain = inject(basePod(), optedNs, resolveSettings({ runtime: { nodeOptions: '', mallocArenaMax: 0 } }))
  const env = byName(plain.spec.initContainers, 'toolgate')!.env!.map((e) => e.name)
  t.notOk(env.includes('NODE_OPTIONS') || env.includes('MALLOC_ARENA_MAX'), 'neither variable is set')
  t.throws(() => resolveSettings({ runtime: { mallocArenaMax: -1 } }), /\/runtime\/mallocArenaMax/)
  t.throws(() => resolveSettings({ runtime: { nodeOptions: 'a\nb' } }), /\/runtime\/nodeOptions/)
})

t.test('config name, extra secrets, resources by annotation; policy bundle by setting', async (t) => {
  const s = resolveSettings({ policyBundle: { configMap: 'toolgate-policy' } })
  const pod = inject(
    basePod({}, {
      annotations: {
        [ANNOTATION.config]: 'team-a-config',
        [ANNOTATION.credentialSecrets]: 'a-secret, b-secret',
        [ANNOTATION.cpuRequest]: '100m',
        [ANNOTATION.memoryLimit]: '1Gi',
      },
    }),
    optedNs,
    s,
  )
  const cfg = pod.spec.volumes!.find((v) => v.name === 'toolgate-config')!
  t.equal(cfg.configMap!.name, 'team-a-config')
  t.ok(pod.spec.volumes!.find((v) => v.name === 'toolgate-policy' && v.configMap?.name === 'toolgate-policy'))
  t.ok(pod.spec.volumes!.find((v) => v.secret?.secretName === 'b-secret'))
  const side = byName(pod.spec.initContainers, 'toolgate')!
  t.same(side.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '1Gi' } })
  t.throws(() => mutatePod(basePod({}, { annotations: { [ANNOTATION.cpuRequest]: 'lots' } }), optedNs, s), /not a Kubernetes quantity/)
  t.throws(() => mutatePod(basePod({}, { annotations: { [ANNOTATION.config]: '../etc' } }), optedNs, s), /not a valid object name/)
})

t.test('preserves what it does not own', async (t) => {
  const before = basePod()
  const pod = inject(before)
  t.same(pod.spec['nodeSelector'], { pool: 'agents' })
  t.equal(pod.metadata!.annotations!['keep'], 'me')
  t.same(pod.metadata!.labels, { app: 'agent' })
  t.equal(pod.spec.serviceAccountName, 'agent-sa')
  t.same(before.spec.containers[0]!.env!.length, 2, 'input not mutated')
  const ops = mutatePod(before, optedNs, defaultSettings())!
  t.same(ops.map((o) => o.path).sort(), ['/metadata/annotations', '/spec/automountServiceAccountToken', '/spec/containers', '/spec/initContainers', '/spec/volumes'])
})

t.test('reserved names are refused, pods without metadata handled', async (t) => {
  const bad = basePod()
  bad.spec.volumes!.push({ name: 'toolgate-ca', emptyDir: {} })
  t.throws(() => mutatePod(bad, optedNs, defaultSettings()), /reserved/)
  const bad2 = basePod()
  bad2.spec.containers.push({ name: 'toolgate' })
  t.throws(() => mutatePod(bad2, optedNs, defaultSettings()), /reserved/)
  const bare: Pod = { spec: { containers: [{ name: 'a', image: 'a' }] } }
  const ops = mutatePod(bare, optedNs, defaultSettings())!
  t.same(ops[0], { op: 'add', path: '/metadata', value: {} })
  t.ok(apply(bare, ops).metadata!.annotations![ANNOTATION.status])
})

t.test('settings validation is clear', async (t) => {
  t.throws(() => resolveSettings({ mode: 'maybe' }), /\/mode: must be one of proxy, transparent/)
  t.throws(() => resolveSettings({ imagee: 'x' }), /unknown field 'imagee'/)
  t.throws(() => resolveSettings({ token: { expirationSeconds: 60 } }), /expirationSeconds/)
  t.equal(resolveSettings({}).image, defaultSettings().image)
})

t.test('JAVA_TOOL_OPTIONS the container sets is extended, not replaced', async (t) => {
  const ours = javaToolOptions(defaultSettings())
  const withEnv = (env: EnvVar[]) => {
    const input = basePod()
    input.spec.containers[0]!.env = env
    return byName(inject(input).spec.containers, 'agent')!.env!
  }
  const literal = withEnv([{ name: 'JAVA_TOOL_OPTIONS', value: '-Xmx512m -Dapp=1' }, { name: 'KEEP', value: '1' }])
  t.same(literal.filter((e) => e.name === 'JAVA_TOOL_OPTIONS'), [{ name: 'JAVA_TOOL_OPTIONS', value: `-Xmx512m -Dapp=1 ${ours}` }], 'literal value: ours appended (later -D wins)')
  t.notOk(literal.some((e) => e.name === APP_JAVA_TOOL_OPTIONS), 'no renamed variable for a literal value')

  const from = { configMapKeyRef: { name: 'jvm', key: 'opts' } }
  const ref = withEnv([{ name: 'A', value: '1' }, { name: 'JAVA_TOOL_OPTIONS', valueFrom: from }, { name: 'B', value: '2' }])
  t.same(ref.map((e) => e.name).slice(0, 3), ['A', APP_JAVA_TOOL_OPTIONS, 'B'], 'valueFrom: kept in place under the renamed variable')
  t.same(ref.find((e) => e.name === APP_JAVA_TOOL_OPTIONS)!.valueFrom, from)
  const java = ref.filter((e) => e.name === 'JAVA_TOOL_OPTIONS')
  t.same(java, [{ name: 'JAVA_TOOL_OPTIONS', value: `$(${APP_JAVA_TOOL_OPTIONS}) ${ours}` }], 'and referenced with $(VAR), defined after it')
  t.ok(ref.findIndex((e) => e.name === APP_JAVA_TOOL_OPTIONS) < ref.findIndex((e) => e.name === 'JAVA_TOOL_OPTIONS'), 'the referenced variable comes first (the kubelet expands only earlier ones)')

  const twice = withEnv([{ name: 'JAVA_TOOL_OPTIONS', value: '-Dold=1' }, { name: 'JAVA_TOOL_OPTIONS', value: '-Dnew=1' }])
  t.same(twice.filter((e) => e.name === 'JAVA_TOOL_OPTIONS').map((e) => e.value), [`-Dnew=1 ${ours}`], 'a repeated name: the last (effective) one is extended')
  const spoof = withEnv([{ name: APP_JAVA_TOOL_OPTIONS, value: '-Dhttp.proxyHost=evil' }])
  t.notOk(spoof.some((e) => e.name === APP_JAVA_TOOL_OPTIONS), 'the renamed variable is toolgate\'s: a container cannot pre-set it')
  t.same(spoof.filter((e) => e.name === 'JAVA_TOOL_OPTIONS').map((e) => e.value), [ours])
  const blank = withEnv([{ name: 'JAVA_TOOL_OPTIONS', value: '' }])
  t.same(blank.filter((e) => e.name === 'JAVA_TOOL_OPTIONS').map((e) => e.value), [ours], 'an empty value adds nothing')
})

t.test('Java nonProxyHosts from NO_PROXY entries', async (t) => {
  t.equal(javaNonProxyHosts(['localhost', '127.0.0.1', '::1', '[fd00::1]', '.svc', '*.corp.example', 'api.internal', '10.0.0.0/8', 'db:5432', '*']),
    'localhost|*.localhost|127.0.0.1|[::1]|[fd00::1]|*.svc|*.corp.example|api.internal|*.api.internal|*', 'CIDRs and host:port left out (Java sends them through toolgate)')
  t.throws(() => resolveSettings({ noProxy: ['a b'] }), /noProxy/, 'an entry that would split JAVA_TOOL_OPTIONS is refused')
  t.throws(() => resolveSettings({ noProxy: ['x$(Y)'] }), /noProxy/, 'an entry with Kubernetes $(VAR) syntax is refused')
  t.throws(() => resolveSettings({ ca: { mountPath: '/ca dir' } }), /mountPath/, 'a CA path with a space is refused')
})

t.test('property: any valid noProxy list yields one JAVA_TOOL_OPTIONS token per option and no $(...)', async (t) => {
  // Entries the settings schema accepts (its pattern), including odd ones.
  const entry = fc.stringMatching(/^[A-Za-z0-9.*:\[\]\/_-]{1,40}$/)
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(entry, { maxLength: 8 }), fc.integer({ min: 1, max: 65535 }), (noProxy, port) => {
    const s = resolveSettings({ noProxy, ports: { proxy: port } })
    const java = javaToolOptions(s)
    const tokens = java.split(' ')
    // The JVM splits JAVA_TOOL_OPTIONS on whitespace: exactly our 7 options, each a -D.
    if (tokens.length !== 7 || !tokens.every((x) => x.startsWith('-D'))) return false
    // Kubernetes would expand $(VAR) in a literal env value; nothing of ours may contain one.
    if (java.includes('$')) return false
    const hosts = tokens.find((x) => x.startsWith('-Dhttp.nonProxyHosts='))!.slice('-Dhttp.nonProxyHosts='.length).split('|')
    // Loopback always bypasses; no entry is empty or carries a port or a CIDR.
    return ['localhost', '127.0.0.1', '[::1]'].every((h) => hosts.includes(h)) && hosts.every((h) => h !== '' && !h.includes('/') && (h.startsWith('[') || !h.includes(':')))
  }), { numRuns: 300 }))
})

// Red team (issue 17 injector): the JVM applies JAVA_TOOL_OPTIONS first, then JDK_JAVA_OPTIONS,
// then _JAVA_OPTIONS, and the last -D wins, so a pod that set either of the later two undid
// toolgate's proxy and truststore properties. Checked against the real JVM (Debian's OpenJDK,
// installed by .ci/run for the client matrix), which prints the properties it ended up with.
t.test('a pod\'s JDK_JAVA_OPTIONS / _JAVA_OPTIONS cannot undo toolgate\'s Java properties (real JVM)', async (t) => {
  const s = defaultSettings()
  const input = basePod()
  input.spec.containers[0]!.env = [
    { name: 'JAVA_TOOL_OPTIONS', value: '-Dhttps.proxyHost=evil-tool' },
    { name: 'JDK_JAVA_OPTIONS', value: '-Dhttps.proxyHost=evil-jdk -Djavax.net.ssl.trustStore=/evil/jdk' },
    { name: '_JAVA_OPTIONS', value: '-Dhttps.proxyHost=evil-underscore -Dhttp.nonProxyHosts=*' },
  ]
  const env = byName(inject(input).spec.containers, 'agent')!.env!
  const vars: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }
  for (const e of env) if (typeof e.value === 'string') vars[e.name] = e.value
  const { stderr } = await promisify(execFile)('java', ['-XshowSettings:properties', '-version'], { env: vars, timeout: 60_000 })
  const prop = (name: string): string | undefined => new RegExp(`^\\s*${name.replaceAll('.', '\\.')} = (.*)$`, 'm').exec(stderr)?.[1]
  t.equal(prop('https.proxyHost'), '127.0.0.1', 'toolgate\'s proxy wins over every variable the pod set')
  t.equal(prop('https.proxyPort'), String(s.ports.proxy))
  t.equal(prop('javax.net.ssl.trustStore'), `${s.ca.mountPath}/${s.ca.truststoreFile}`)
  t.not(prop('http.nonProxyHosts'), '*', 'the pod cannot exempt every host')
})

t.test('property: every Java options variable a container sets ends with toolgate\'s options; valueFrom ones are referenced after their renamed definition', async (t) => {
  const ours = javaToolOptions(defaultSettings())
  const how = fc.constantFrom('absent', 'literal', 'empty', 'valueFrom')
  t.doesNotThrow(() => fc.assert(fc.property(fc.tuple(how, how, how), fc.boolean(), (forms, spoof) => {
    const env: EnvVar[] = [{ name: 'A', value: '1' }]
    JAVA_OPTION_VARIABLES.forEach((name, i) => {
      const f = forms[i]
      if (f === 'literal') env.push({ name, value: `-Dapp.${i}=1 -Dhttps.proxyHost=evil` })
      else if (f === 'empty') env.push({ name, value: '' })
      else if (f === 'valueFrom') env.push({ name, valueFrom: { configMapKeyRef: { name: 'jvm', key: name } } })
      if (spoof) env.push({ name: appJavaOptionsName(name), value: '-Dhttps.proxyHost=evil' })
    })
    const input = basePod()
    input.spec.containers[0]!.env = env
    const out = byName(inject(input).spec.containers, 'agent')!.env!
    JAVA_OPTION_VARIABLES.forEach((name, i) => {
      const set = out.filter((e) => e.name === name)
      const expected = name === 'JAVA_TOOL_OPTIONS' || forms[i] !== 'absent' ? 1 : 0
      if (set.length !== expected) throw new Error(`${name}: ${set.length} definitions for ${forms[i]}`)
      if (expected === 0) return
      if (!set[0]!.value!.endsWith(` ${ours}`) && set[0]!.value !== ours) throw new Error(`${name} does not end with toolgate's options: ${set[0]!.value}`)
      const renamed = out.findIndex((e) => e.name === appJavaOptionsName(name))
      if (forms[i] === 'valueFrom') {
        if (renamed === -1 || renamed > out.indexOf(set[0]!) || out[renamed]!.valueFrom === undefined) throw new Error(`${name}: valueFrom not kept before its reference`)
        if (set[0]!.value !== `$(${appJavaOptionsName(name)}) ${ours}`) throw new Error(`${name}: ${set[0]!.value}`)
      } else if (renamed !== -1) throw new Error(`${name}: a renamed variable the container could pre-set survived`)
    })
  }), { numRuns: 200 }), 'every generated pod keeps toolgate\'s Java options last')
})
