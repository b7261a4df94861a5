// Injector settings: what the webhook adds to an opted-in pod. The chart renders them into a
// ConfigMap (charts/toolgate/templates/injector-configmap.yaml) that `toolgate inject --settings`
// reads; every field has a default so an empty file is a working (proxy-variable) setup.
// Validated with ajv; unknown fields are an error, so a typo in values.yaml does not pass silently.

import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'

export type InterceptionMode = 'proxy' | 'transparent'

export interface ResourceSettings {
  requests: Record<string, string>
  limits: Record<string, string>
}

export interface InjectorSettings {
  /** Sidecar image (entrypoint: the toolgate binary). */
  image: string
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'
  /** true: init container with restartPolicy Always (Kubernetes >= 1.29); false: a regular container. */
  nativeSidecar: boolean
  /** Default interception mode; the annotation toolgate.dev/mode overrides it per pod. */
  mode: InterceptionMode
  optIn: {
    /** Namespace label whose value `namespaceValue` opts every pod of the namespace in. */
    namespaceLabel: string
    namespaceValue: string
    /** Pod label (and annotation of the same name) whose value `true` opts in and `false` opts out. */
    podLabel: string
    /** Honour the pod annotation `podLabel: "true"` as opt-in (needs the webhook to see all pods). */
    annotation: boolean
  }
  /** Namespaces never injected (the injector's own is added by the command). */
  skipNamespaces: string[]
  /** Label that marks the injector's own pods; they are never injected. */
  injectorLabel: { key: string; value: string }
  config: {
    /** ConfigMap (in the pod's namespace) holding toolgate.yaml; annotation toolgate.dev/config overrides. */
    configMap: string
    key: string
    mountPath: string
  }
  /** ConfigMap (in the pod's namespace) with the policy bundle; '' = the sidecar's embedded bundle. Mount paths are
   *  siblings of the config mount, never inside it: a read-only configMap volume cannot hold mount points. */
  policyBundle: { configMap: string; mountPath: string }
  /** Secrets (in the pod's namespace) mounted only into the sidecar, at credentials.mountPath/<name>. */
  credentials: { secrets: string[]; mountPath: string }
  /** The sidecar's own projected service-account token: its workload identity for token exchange. */
  token: { audience: string; expirationSeconds: number; mountPath: string }
  /** The per-pod CA certificate, written by the sidecar, read-only in agent containers. */
  ca: { mountPath: string; file: string }
  /** health: the sidecar's /healthz + /readyz listener on the pod IP, for the kubelet's httpGet probes
   *  (the admin listener is loopback-only, so the kubelet cannot reach it). */
  ports: { proxy: number; admin: number; transparentHttp: number; transparentTls: number; health: number }
  /** UID the sidecar runs as; transparent mode excludes it from the redirect. */
  proxyUid: number
  /** redirectAll: TCP to ports other than 80/443 goes to the transparent HTTP listener, which refuses it
   *  (without it, only 80 and 443 are intercepted and other ports leave the pod unseen). */
  transparent: { excludeCidrs: string[]; excludePorts: number[]; redirectAll: boolean }
  /** Extra NO_PROXY entries for agent containers (loopback is always there). */
  noProxy: string[]
  resources: ResourceSettings
  /** The sidecar's Node.js memory settings (see SIDECAR_RUNTIME). */
  runtime: { nodeOptions: string; mallocArenaMax: number }
}

/**
 * Memory settings of the sidecar process. Node sizes its heap for a machine, not a sidecar: by
 * default the young generation alone may take 3 x 16 MiB, and V8 grows the old generation
 * lazily while there is room, so one sidecar under load reached 180-300 MiB RSS with ~20 MiB of
 * live objects. A 4 MiB semi-space and a 128 MiB old-generation cap (below the default 256Mi
 * container limit, so V8 collects harder before the kernel would kill the pod) keep it at
 * ~120-130 MiB; MALLOC_ARENA_MAX=2 stops glibc from giving each libuv/V8 worker thread its own
 * malloc arena (another ~10 MiB). A 2 MiB semi-space saved only ~4 MiB more and cost ~8 % of
 * throughput in interleaved runs. Measured in docs/benchmarks.md; the benchmark suite runs
 * toolgate with these same settings.
 */
export const SIDECAR_RUNTIME: InjectorSettings['runtime'] = {
  nodeOptions: '--max-old-space-size=128 --max-semi-space-size=4',
  mallocArenaMax: 2,
}

export function defaultSettings(): InjectorSettings {
  return {
    image: 'ghcr.io/toolgate/toolgate:0.1.0',
    imagePullPolicy: 'IfNotPresent',
    nativeSidecar: true,
    mode: 'transparent',
    optIn: { namespaceLabel: 'toolgate.dev/injection', namespaceValue: 'enabled', podLabel: 'toolgate.dev/inject', annotation: false },
    skipNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
    injectorLabel: { key: 'toolgate.dev/component', value: 'injector' },
    config: { configMap: 'toolgate-config', key: 'toolgate.yaml', mountPath: '/etc/toolgate' },
    policyBundle: { configMap: '', mountPath: '/etc/toolgate-policy' },
    credentials: { secrets: [], mountPath: '/etc/toolgate-credentials' },
    token: { audience: 'toolgate', expirationSeconds: 600, mountPath: '/var/run/secrets/toolgate' },
    ca: { mountPath: '/var/run/toolgate/ca', file: 'ca.crt' },
    ports: { proxy: 15001, admin: 15000, transparentHttp: 15002, transparentTls: 15003, health: 15021 },
    proxyUid: 15337,
    transparent: { excludeCidrs: [], excludePorts: [], redirectAll: true },
    noProxy: [],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    runtime: { ...SIDECAR_RUNTIME },
  }
}

const str = { type: 'string' }
const nonEmpty = { type: 'string', minLength: 1 }
const port = { type: 'integer', minimum: 1, maximum: 65535 }
const strMap = { type: 'object', additionalProperties: { type: 'string' } }
const obj = (properties: Record<string, unknown>) => ({ type: 'object', additionalProperties: false, properties })

const settingsSchema = obj({
  image: nonEmpty,
  imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
  nativeSidecar: { type: 'boolean' },
  mode: { enum: ['proxy', 'transparent'] },
  optIn: obj({ namespaceLabel: nonEmpty, namespaceValue: nonEmpty, podLabel: nonEmpty, annotation: { type: 'boolean' } }),
  skipNamespaces: { type: 'array', items: nonEmpty },
  injectorLabel: obj({ key: nonEmpty, value: str }),
  config: obj({ configMap: nonEmpty, key: nonEmpty, mountPath: nonEmpty }),
  policyBundle: obj({ configMap: str, mountPath: nonEmpty }),
  credentials: obj({ secrets: { type: 'array', items: nonEmpty }, mountPath: nonEmpty }),
  token: obj({ audience: nonEmpty, expirationSeconds: { type: 'integer', minimum: 600, maximum: 86400 }, mountPath: nonEmpty }),
  ca: obj({ mountPath: nonEmpty, file: nonEmpty }),
  ports: obj({ proxy: port, admin: port, transparentHttp: port, transparentTls: port, health: port }),
  proxyUid: { type: 'integer', minimum: 1 },
  transparent: obj({ excludeCidrs: { type: 'array', items: nonEmpty }, excludePorts: { type: 'array', items: port }, redirectAll: { type: 'boolean' } }),
  noProxy: { type: 'array', items: nonEmpty },
  resources: obj({ requests: strMap, limits: strMap }),
  // '' leaves NODE_OPTIONS unset; 0 leaves MALLOC_ARENA_MAX unset (glibc's default).
  runtime: obj({ nodeOptions: { type: 'string', pattern: '^[^\\n]*$' }, mallocArenaMax: { type: 'integer', minimum: 0, maximum: 64 } }),
})

const validate = new Ajv({ allErrors: true, strict: true }).compile(settingsSchema)

/** Deep merge of plain objects; arrays and scalars from `over` replace. */
function merge<T>(base: T, over: unknown): T {
  if (over === undefined || over === null) return base
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || Array.isArray(over)) return over as T
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v)
  return out as T
}

/** Settings from a partial object (YAML/JSON parsed); throws one Error listing every problem. */
export function resolveSettings(partial: unknown, source = 'settings'): InjectorSettings {
  if (partial !== undefined && partial !== null && (typeof partial !== 'object' || Array.isArray(partial))) {
    throw new Error(`${source}: expected a mapping of injector settings`)
  }
  if (partial && !validate(partial)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath || '/'
      if (e.keyword === 'additionalProperties') return `${where}: unknown field '${String(e.params['additionalProperty'])}'`
      if (e.keyword === 'enum') return `${where}: must be one of ${(e.params['allowedValues'] as unknown[]).join(', ')}`
      return `${where}: ${e.message ?? 'invalid'}`
    })
    throw new Error(`${source}: invalid injector settings:\n  ${problems.join('\n  ')}`)
  }
  return merge(defaultSettings(), partial)
}

export function loadSettingsFile(file: string): InjectorSettings {
  const text = readFileSync(file, 'utf8')
  return resolveSettings(parseYaml(text) as unknown, file)
}
