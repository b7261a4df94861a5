// mutatePod: the pure heart of the webhook. Given a pod, the namespace it is created in and the
// injector settings, it returns the JSONPatch that injects toolgate, or null when the pod is not
// to be touched. No I/O, so every rule is unit-tested directly (test/k8s/mutate.test.ts).
//
// How the patch is built: the pod is deep-copied, the copy is mutated, and each top-level field
// that changed (metadata.annotations, spec.containers, spec.initContainers, spec.volumes,
// spec.automountServiceAccountToken) becomes one add/replace op carrying the whole new value.
// Fields the injector does not own are copied through unchanged inside those values, so nothing
// is lost, and the patch can never address an array index that moved.

import { withAgentEnvironment } from './agent-env.ts'
import { ANNOTATION, OWNED, STATUS_VERSION } from './annotations.ts'
import type { Container, EnvVar, JsonPatchOp, Pod, ResourceRequirements, Volume, VolumeMount } from './pod.ts'
import type { InjectorSettings, InterceptionMode } from './settings.ts'

/** What the webhook knows about the pod's namespace. */
export interface NamespaceInfo {
  name: string
  /** Namespace labels when known (the namespace-selector webhook entry implies the opt-in label). */
  labels?: Record<string, string>
}

/** A pod whose annotations ask for something invalid: the webhook rejects the create with this message. */
export class InjectionError extends Error {
  override name = 'InjectionError'
}

export interface InjectionVerdict {
  inject: boolean
  reason: string
}

const SA_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount'
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
// Kubernetes resource.Quantity, as in apimachinery's quantity regexp.
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$/

/** Whether the pod is to be injected, and why (the reason is logged by the webhook). */
export function injectionVerdict(pod: Pod, ns: NamespaceInfo, s: InjectorSettings): InjectionVerdict {
  const labels = pod.metadata?.labels ?? {}
  const annotations = pod.metadata?.annotations ?? {}
  if (s.skipNamespaces.includes(ns.name)) return { inject: false, reason: `namespace ${ns.name} is skipped` }
  if (labels[s.injectorLabel.key] === s.injectorLabel.value) return { inject: false, reason: 'pod is the injector itself' }
  if (annotations[ANNOTATION.status] !== undefined) return { inject: false, reason: 'already injected' }
  if (pod.spec.hostNetwork === true) return { inject: false, reason: 'hostNetwork pods are never injected (their loopback and iptables are the node\'s)' }
  const podOpt = labels[s.optIn.podLabel] ?? annotations[s.optIn.podLabel]
  if (podOpt === 'false') return { inject: false, reason: `pod opted out (${s.optIn.podLabel}=false)` }
  if (labels[s.optIn.podLabel] === 'true') return { inject: true, reason: `pod label ${s.optIn.podLabel}=true` }
  if (s.optIn.annotation && annotations[s.optIn.podLabel] === 'true') return { inject: true, reason: `pod annotation ${s.optIn.podLabel}=true` }
  if (ns.labels?.[s.optIn.namespaceLabel] === s.optIn.namespaceValue) {
    return { inject: true, reason: `namespace label ${s.optIn.namespaceLabel}=${s.optIn.namespaceValue}` }
  }
  return { inject: false, reason: 'not opted in' }
}

/** The JSONPatch that injects toolgate into `pod`, or null when it is not to be injected. */
export function mutatePod(pod: Pod, ns: NamespaceInfo, s: InjectorSettings): JsonPatchOp[] | null {
  if (!injectionVerdict(pod, ns, s).inject) return null
  const annotations = pod.metadata?.annotations ?? {}
  const mode = modeOf(annotations, s)
  const configMap = nameAnnotation(annotations, ANNOTATION.config) ?? s.config.configMap
  const secrets = unique([...s.credentials.secrets, ...listAnnotation(annotations, ANNOTATION.credentialSecrets)])
  const resources = resourcesOf(annotations, s)

  const next = structuredClone(pod)
  const spec = next.spec
  const existingVolumes = spec.volumes ?? []
  for (const v of existingVolumes) {
    if (v.name.startsWith('toolgate-')) throw new InjectionError(`volume name ${v.name} is reserved for toolgate`)
  }
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    if (c.name === OWNED.sidecar || c.name === OWNED.iptablesInit) throw new InjectionError(`container name ${c.name} is reserved for toolgate`)
  }

  // Volumes an agent container must not keep mounted: service-account tokens (the agent loses its
  // API identity; the sidecar gets its own) and the credential Secrets.
  const forbidden = new Set(existingVolumes.filter((v) => isTokenVolume(v) || isSecretVolume(v, secrets)).map((v) => v.name))
  const caMount: VolumeMount = { name: OWNED.caVolume, mountPath: s.ca.mountPath, readOnly: true }
  const refersToSecret = (ref: unknown) => secrets.includes(String((ref as { name?: unknown } | undefined)?.name))
  const adaptAgent = (c: Container): Container => ({
    ...c,
    // Credential Secrets reach an agent neither as files nor as environment variables.
    ...(Array.isArray(c['envFrom']) ? { envFrom: (c['envFrom'] as Array<Record<string, unknown>>).filter((e) => !refersToSecret(e['secretRef'])) } : {}),
    // toolgate's variables last; the container's own JAVA_TOOL_OPTIONS is extended, not replaced.
    env: withAgentEnvironment(s, (c.env ?? []).filter((e) => !refersToSecret(e.valueFrom?.['secretKeyRef']))),
    volumeMounts: [
      ...(c.volumeMounts ?? []).filter((m) => !forbidden.has(m.name) && m.mountPath !== SA_TOKEN_PATH && m.mountPath !== s.ca.mountPath),
      caMount,
    ],
  })
  spec.containers = spec.containers.map(adaptAgent)
  const agentInits = (spec.initContainers ?? []).map(adaptAgent)

  const sidecar = sidecarContainer(s, mode, secrets, resources)
  const inits: Container[] = []
  if (mode === 'transparent') inits.push(iptablesContainer(s))
  if (s.nativeSidecar) {
    // First after the redirect, before the pod's own init containers, so they are already proxied.
    inits.push({ ...sidecar, restartPolicy: 'Always' })
  } else {
    spec.containers = [sidecar, ...spec.containers]
  }
  const initContainers = [...inits, ...agentInits]
  if (initContainers.length > 0) spec.initContainers = initContainers

  // Token volumes stay only if something other than an agent still mounts them (nothing does now).
  spec.volumes = [
    ...existingVolumes.filter((v) => !isTokenVolume(v)),
    ...ownedVolumes(s, configMap, secrets),
  ]
  spec.automountServiceAccountToken = false

  next.metadata = { ...(next.metadata ?? {}) }
  next.metadata.annotations = {
    ...annotations,
    [ANNOTATION.status]: JSON.stringify({ version: STATUS_VERSION, mode, config: configMap, sidecar: s.nativeSidecar ? 'native' : 'classic' }),
  }
  return diffTopLevel(pod, next)
}

function modeOf(annotations: Record<string, string>, s: InjectorSettings): InterceptionMode {
  const v = annotations[ANNOTATION.mode]
  if (v === undefined) return s.mode
  if (v === 'proxy' || v === 'transparent') return v
  throw new InjectionError(`annotation ${ANNOTATION.mode}: '${v}' is not one of proxy, transparent`)
}

function nameAnnotation(annotations: Record<string, string>, key: string): string | undefined {
  const v = annotations[key]
  if (v === undefined) return undefined
  if (!DNS_SUBDOMAIN.test(v)) throw new InjectionError(`annotation ${key}: '${v}' is not a valid object name`)
  return v
}

function listAnnotation(annotations: Record<string, string>, key: string): string[] {
  const v = annotations[key]
  if (v === undefined) return []
  const names = v.split(',').map((x) => x.trim()).filter((x) => x !== '')
  for (const n of names) if (!DNS_SUBDOMAIN.test(n) || n.length > 40) throw new InjectionError(`annotation ${key}: '${n}' is not a valid Secret name (at most 40 characters)`)
  return names
}

function resourcesOf(annotations: Record<string, string>, s: InjectorSettings): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests = { ...s.resources.requests }
  const limits = { ...s.resources.limits }
  const pick = (key: string, target: Record<string, string>, field: string) => {
    const v = annotations[key]
    if (v === undefined) return
    if (!QUANTITY.test(v)) throw new InjectionError(`annotation ${key}: '${v}' is not a Kubernetes quantity`)
    target[field] = v
  }
  pick(ANNOTATION.cpuRequest, requests, 'cpu')
  pick(ANNOTATION.memoryRequest, requests, 'memory')
  pick(ANNOTATION.cpuLimit, limits, 'cpu')
  pick(ANNOTATION.memoryLimit, limits, 'memory')
  return { requests, limits }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)]
}

function isTokenVolume(v: Volume): boolean {
  return (v.projected?.sources ?? []).some((src) => 'serviceAccountToken' in src)
}

function isSecretVolume(v: Volume, secrets: string[]): boolean {
  if (v.secret?.secretName !== undefined && secrets.includes(v.secret.secretName)) return true
  return (v.projected?.sources ?? []).some((src) => {
    const ref = src['secret'] as { name?: string } | undefined
    return ref?.name !== undefined && secrets.includes(ref.name)
  })
}

function restrictedSecurityContext(uid: number): Record<string, unknown> {
  return {
    runAsUser: uid,
    runAsGroup: uid,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  }
}

function sidecarContainer(s: InjectorSettings, mode: InterceptionMode, secrets: string[], resources: ResourceRequirements): Container {
  // httpGet on the health listener: the kubelet calls it directly, no process is started in the
  // container per probe (an exec probe running node costs ~40 MiB and ~40 ms of CPU each time).
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { path, port: s.ports.health, scheme: 'HTTP' },
    timeoutSeconds: 2,
    ...extra,
  })
  const mounts: VolumeMount[] = [
    { name: OWNED.configVolume, mountPath: s.config.mountPath, readOnly: true },
    { name: OWNED.tokenVolume, mountPath: s.token.mountPath, readOnly: true },
    { name: OWNED.caVolume, mountPath: s.ca.mountPath },
    { name: OWNED.tmpVolume, mountPath: '/tmp' },
  ]
  if (s.policyBundle.configMap !== '') mounts.push({ name: OWNED.policyVolume, mountPath: s.policyBundle.mountPath, readOnly: true })
  for (const name of secrets) {
    mounts.push({ name: OWNED.credentialVolumePrefix + name, mountPath: `${s.credentials.mountPath}/${name}`, readOnly: true })
  }
  const field = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } })
  return {
    name: OWNED.sidecar,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args: ['run', '--config', `${s.config.mountPath}/${s.config.key}`, '--health', `0.0.0.0:${s.ports.health}`],
    env: [
      field('POD_NAMESPACE', 'metadata.namespace'),
      field('POD_NAME', 'metadata.name'),
      field('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      { name: 'TOOLGATE_INTERCEPTION', value: mode },
      ...(s.runtime.nodeOptions !== '' ? [{ name: 'NODE_OPTIONS', value: s.runtime.nodeOptions }] : []),
      ...(s.runtime.mallocArenaMax > 0 ? [{ name: 'MALLOC_ARENA_MAX', value: String(s.runtime.mallocArenaMax) }] : []),
    ],
    ports: [
      { name: 'toolgate-proxy', containerPort: s.ports.proxy, protocol: 'TCP' },
      { name: 'toolgate-admin', containerPort: s.ports.admin, protocol: 'TCP' },
      { name: 'toolgate-health', containerPort: s.ports.health, protocol: 'TCP' },
    ],
    startupProbe: probe('/healthz', { periodSeconds: 1, failureThreshold: 60 }),
    readinessProbe: probe('/readyz', { periodSeconds: 5, failureThreshold: 3 }),
    livenessProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 3 }),
    resources,
    securityContext: restrictedSecurityContext(s.proxyUid),
    volumeMounts: mounts,
  }
}

function iptablesContainer(s: InjectorSettings): Container {
  const args = [
    'iptables', 'install',
    '--proxy-uid', String(s.proxyUid),
    '--http-port', String(s.ports.transparentHttp),
    '--tls-port', String(s.ports.transparentTls),
  ]
  if (s.transparent.excludeCidrs.length > 0) args.push('--exclude-cidrs', s.transparent.excludeCidrs.join(','))
  if (s.transparent.excludePorts.length > 0) args.push('--exclude-ports', s.transparent.excludePorts.join(','))
  // Other ports go to the HTTP listener, which refuses anything not aimed at port 80.
  if (s.transparent.redirectAll) args.push('--redirect-all', String(s.ports.transparentHttp))
  return {
    name: OWNED.iptablesInit,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args,
    // iptables takes a lock file, /run/xtables.lock by default, which a read-only root filesystem
    // cannot hold; /dev/shm is the pod's own writable tmpfs, and nothing else in this network
    // namespace runs iptables concurrently.
    env: [{ name: 'XTABLES_LOCKFILE', value: '/dev/shm/xtables.lock' }],
    // The one privileged step: root with NET_ADMIN/NET_RAW in the pod's own network namespace,
    // nothing else (no escalation, read-only root, every other capability dropped).
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
  }
}

function ownedVolumes(s: InjectorSettings, configMap: string, secrets: string[]): Volume[] {
  const volumes: Volume[] = [
    { name: OWNED.caVolume, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: OWNED.tmpVolume, emptyDir: { sizeLimit: '64Mi' } },
    { name: OWNED.configVolume, configMap: { name: configMap, items: [{ key: s.config.key, path: s.config.key }] } },
    {
      name: OWNED.tokenVolume,
      projected: { sources: [{ serviceAccountToken: { audience: s.token.audience, expirationSeconds: s.token.expirationSeconds, path: 'token' } }] },
    },
  ]
  if (s.policyBundle.configMap !== '') volumes.push({ name: OWNED.policyVolume, configMap: { name: s.policyBundle.configMap } })
  // Default file mode (0644): the sidecar runs as a non-root UID without fsGroup, so 0400 root-owned
  // files would be unreadable to it; no agent container mounts these volumes at all.
  for (const name of secrets) volumes.push({ name: OWNED.credentialVolumePrefix + name, secret: { secretName: name } })
  return volumes
}

/** JSON Pointer escaping (RFC 6901). */
function pointer(...segments: string[]): string {
  return '/' + segments.map((x) => x.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')
}

function diffTopLevel(before: Pod, after: Pod): JsonPatchOp[] {
  const ops: JsonPatchOp[] = []
  const field = (parent: 'metadata' | 'spec', key: string) => {
    const a = (before[parent] as Record<string, unknown> | undefined)?.[key]
    const b = (after[parent] as Record<string, unknown> | undefined)?.[key]
    if (JSON.stringify(a) === JSON.stringify(b)) return
    ops.push({ op: a === undefined ? 'add' : 'replace', path: pointer(parent, key), value: b })
  }
  if (before.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: {} })
  field('metadata', 'annotations')
  for (const key of ['initContainers', 'containers', 'volumes', 'automountServiceAccountToken']) field('spec', key)
  return ops
}
